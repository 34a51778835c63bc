import { VersionHistory } from './version-history';

describe('VersionHistory', () => {
  // v1 current from 1000 to 2000, v2 from 2000 to 5000, v3 from 5000 on.
  const history = new VersionHistory();
  history.publish('v1', 1000);
  history.publish('v2', 2000);
  history.publish('v3', 5000);

  it.each<[number, number, string[]]>([
    [1200, 1500, ['v1']],
    [1500, 2500, ['v1', 'v2']],
    [2000, 2000, ['v1', 'v2']],
    [3000, 4000, ['v2']],
    [4000, 9000, ['v2', 'v3']],
    [6000, 9000, ['v3']],
    [0, 500, []],
  ])('current in [%d, %d]: %j', (from, to, versions) => {
    expect(history.currentIn(from, to)).toEqual(versions);
  });

  it('knows every version it kept', () => {
    expect(history.all()).toEqual(['v1', 'v2', 'v3']);
  });
});
