// e2e specs start real processes and move real bytes; the default 5 s is for unit tests.
jest.setTimeout(180_000);
