/**
 * The spool's state machine (docs/ARCHITECTURE.md#the-spool):
 *
 *   receiving ──verified──▶ verified ──released──▶ released
 *       │  └────────────released─────────────────────▲
 *       └──failed──▶ failed ◀──failed── verified
 *
 * receiving: bytes arrive; nobody may read the last of them. verified: every byte arrived and
 * passed the size and digest checks, so the storage writer may read to the end. released: the
 * artifact is published, so clients may read to the end too. failed: readers that have not ended
 * error out instead of ever getting the held-back bytes. released and failed are final.
 */
export type SpoolState = 'receiving' | 'verified' | 'released' | 'failed';

export type SpoolEvent = 'verified' | 'released' | 'failed';

/** Which state lets a reader deliver the held-back bytes and end. */
export type ReaderGate = 'verified' | 'released';

/**
 * While the download is still being verified, readers never get the last byte: a client can
 * then never hold a complete body of something that fails its size or digest check
 * (docs/CACHING.md#streaming). Content-Length (or chunked framing) makes the missing byte
 * visible as a broken transfer.
 */
const HOLD_BACK_BYTES = 1;

/** The state after `event`; an event that does not apply leaves the state as it is. */
export function nextSpoolState(state: SpoolState, event: SpoolEvent): SpoolState {
  if (state === 'released' || state === 'failed') {
    return state;
  }
  if (event === 'verified') {
    return state === 'receiving' ? 'verified' : state;
  }
  return event;
}

/** What a reader behind `gate` may do with the `written` bytes of a spool in `state`. */
export type ReaderWindow =
  { failed: false; readable: number; ended: boolean } | { failed: true; readable: 0; ended: false };

export function readerWindow(state: SpoolState, gate: ReaderGate, written: number): ReaderWindow {
  if (state === 'failed') {
    return { failed: true, readable: 0, ended: false };
  }
  const open = state === 'released' || (state === 'verified' && gate === 'verified');
  return {
    failed: false,
    readable: open ? written : Math.max(0, written - HOLD_BACK_BYTES),
    ended: open,
  };
}
