import {
  type ReaderGate,
  type SpoolEvent,
  type SpoolState,
  nextSpoolState,
  readerWindow,
} from './spool-state';

describe('nextSpoolState', () => {
  it.each<[SpoolState, SpoolEvent, SpoolState]>([
    ['receiving', 'verified', 'verified'],
    ['receiving', 'released', 'released'],
    ['receiving', 'failed', 'failed'],
    ['verified', 'verified', 'verified'],
    ['verified', 'released', 'released'],
    ['verified', 'failed', 'failed'],
    // final states stay final: a late failure never takes back a published artifact's end
    ['released', 'verified', 'released'],
    ['released', 'released', 'released'],
    ['released', 'failed', 'released'],
    ['failed', 'verified', 'failed'],
    ['failed', 'released', 'failed'],
    ['failed', 'failed', 'failed'],
  ])('%s --%s--> %s', (state, event, next) => {
    expect(nextSpoolState(state, event)).toBe(next);
  });
});

describe('readerWindow (100 bytes written)', () => {
  it.each<[SpoolState, ReaderGate, number, boolean, boolean]>([
    // state, gate, readable, ended, failed
    ['receiving', 'verified', 99, false, false],
    ['receiving', 'released', 99, false, false],
    ['verified', 'verified', 100, true, false],
    ['verified', 'released', 99, false, false],
    ['released', 'verified', 100, true, false],
    ['released', 'released', 100, true, false],
    ['failed', 'verified', 0, false, true],
    ['failed', 'released', 0, false, true],
  ])(
    '%s behind the %s gate: %i readable, ended %s, failed %s',
    (state, gate, readable, ended, failed) => {
      expect(readerWindow(state, gate, 100)).toEqual({ readable, ended, failed });
    },
  );

  it('holds back nothing below zero while nothing is written', () => {
    expect(readerWindow('receiving', 'released', 0)).toEqual({
      readable: 0,
      ended: false,
      failed: false,
    });
  });
});
