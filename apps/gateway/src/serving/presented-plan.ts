import { INDEX_MAX_BYTES, readDocument } from '@app/formats';
import type { ServePlan } from './serve-plan';

/**
 * A stored document as the format presents it to the client that asked (PackageFormat.present,
 * e.g. npm's tarball links made absolute), read whole: its length is the presented one, and a
 * HEAD answer leaves the length out rather than state the stored one.
 */
export async function presentedPlan(
  plan: ServePlan,
  present: (stored: Buffer) => Buffer,
): Promise<ServePlan> {
  if (plan.status !== 200) {
    return plan;
  }
  const headers = { ...plan.headers };
  delete headers['content-length'];
  delete headers['accept-ranges'];
  if (plan.body === null) {
    return { ...plan, headers, object: undefined };
  }
  const stored = Buffer.isBuffer(plan.body)
    ? plan.body
    : await readDocument(plan.body, INDEX_MAX_BYTES, 'stored document');
  const body = present(stored);
  return {
    ...plan,
    headers: { ...headers, 'content-length': String(body.length) },
    body,
    object: undefined,
  };
}
