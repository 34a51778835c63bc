export * from './fetch-job';
export * from './active-jobs';
export * from './warm-job';
export * from './queue-call';
