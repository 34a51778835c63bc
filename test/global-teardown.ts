/** Jest globalTeardown of the `e2e` project: stops what test/global-setup.ts started. */
export { stopServices as default } from './global-setup';
