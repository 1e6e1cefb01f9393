/** The database floor: connections (client.ts), opening the configured or embedded server (open.ts), the embedded PostgreSQL (embedded/). */
export * from './client.ts';
export * from './open.ts';
export * from './embedded/index.ts';
