export * from './fetch-job';
export * from './active-jobs';
export * from './warm-job';
