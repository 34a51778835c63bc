export * from './fetch-job';
