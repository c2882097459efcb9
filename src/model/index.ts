export * from './records.js';
export * from './snapshot.js';
