import { tagListPage } from './tag-list-page';

const list = { name: 'library/alpine', tags: ['3.18', '3.19', '3.20', 'edge', 'latest'] };

describe('tagListPage', () => {
  it.each([
    [{}, ['3.18', '3.19', '3.20', 'edge', 'latest'], null],
    [{ n: 2 }, ['3.18', '3.19'], 'n=2&last=3.19'],
    [{ n: 2, last: '3.19' }, ['3.20', 'edge'], 'n=2&last=edge'],
    [{ n: 2, last: 'edge' }, ['latest'], null],
    [{ n: 3, last: '3.19' }, ['3.20', 'edge', 'latest'], null],
    [{ last: '3.20' }, ['edge', 'latest'], null],
    [{ last: 'zzz' }, [], null],
    [{ n: 0 }, [], null],
    [{ n: 5 }, ['3.18', '3.19', '3.20', 'edge', 'latest'], null],
  ])('%j → %j, next %j', (query, tags, next) => {
    const page = tagListPage(list, query);
    expect(page.body).toEqual({ name: 'library/alpine', tags });
    expect(page.next).toBe(next);
  });
});
