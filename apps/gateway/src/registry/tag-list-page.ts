export interface TagList {
  name: string;
  tags: string[];
}

export interface TagPageQuery {
  /** at most this many tags */
  n?: number;
  /** only tags after this one (lexically) */
  last?: string;
}

export interface TagPage {
  body: TagList;
  /** the next page's query (`n=…&last=…`), when there is one */
  next: string | null;
}

/**
 * One page of a tag list (distribution spec, "Listing Tags"): the tags after `last`, at most `n`
 * of them, and the query of the next page when tags remain. The cached list is sorted lexically,
 * as registries return it.
 */
export function tagListPage(list: TagList, query: TagPageQuery): TagPage {
  const after = query.last === undefined ? list.tags : list.tags.filter((tag) => tag > query.last!);
  if (query.n === undefined || after.length <= query.n) {
    return { body: { name: list.name, tags: after }, next: null };
  }
  const tags = after.slice(0, query.n);
  const next = new URLSearchParams({ n: String(query.n), last: tags[tags.length - 1] ?? '' });
  return { body: { name: list.name, tags }, next: query.n === 0 ? null : next.toString() };
}
