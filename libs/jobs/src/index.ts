export * from './fetch-job';
export * from './active-jobs';
