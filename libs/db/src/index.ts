export * from './artifact-records.service';
export * from './data-source';
export * from './database.service';
export * from './db.module';
export * from './entities/cached-artifact.entity';
export * from './entities/hosted-file.entity';
export * from './hit-recorder.service';
export * from './hosted-records.service';
