export * from './records.js';
export * from './snapshot.js';
export * from "./finding.js";
export * from "./config.js";
