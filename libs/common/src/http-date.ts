/** An HTTP date header (Last-Modified) as a Date; undefined when absent or not a date. */
export function httpDate(value: string | undefined): Date | undefined {
  const time = value === undefined ? Number.NaN : Date.parse(value);
  return Number.isNaN(time) ? undefined : new Date(time);
}
