import { remainderAfter } from './spool-file';

const buffers = (...parts: string[]): Buffer[] => parts.map((part) => Buffer.from(part));
const text = (parts: Buffer[]): string[] => parts.map((part) => part.toString());

describe('remainderAfter (what a short writev left to write)', () => {
  it.each([
    { parts: ['abc', 'de'], written: 0, rest: ['abc', 'de'] },
    { parts: ['abc', 'de'], written: 1, rest: ['bc', 'de'] },
    { parts: ['abc', 'de'], written: 3, rest: ['de'] },
    { parts: ['abc', 'de'], written: 4, rest: ['e'] },
    { parts: ['abc', 'de'], written: 5, rest: [] },
    { parts: ['', 'ab'], written: 1, rest: ['b'] },
  ])('$parts after $written bytes: $rest', ({ parts, written, rest }) => {
    expect(text(remainderAfter(buffers(...parts), written))).toEqual(rest);
  });
});
