export * from './cache-keys';
export * from './cache-state.service';
export * from './cache.module';
export * from './redis.provider';
export * from './path-lock.service';
export * from './redis-target';
export * from './replication-barrier.service';
export * from './redis-lease';
