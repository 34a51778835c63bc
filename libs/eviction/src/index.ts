export * from './eviction-plan';
export * from './eviction.module';
export * from './eviction.service';
