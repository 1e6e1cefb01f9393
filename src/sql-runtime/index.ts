/**
 * The SQL runtime shared by the stages that run the project's SQL (src/transform builds the models,
 * src/quality runs the data tests and rule counts): the session settings of a heavy statement
 * (memory, planner, the run's `medallion.as_of`) and the mapping of a PostgreSQL error to a
 * MedallionError. It knows nothing of models or tests: it sits below both.
 */
export { BUILD_MEMORY, DEFAULT_MEMORY, type MemorySettings, memorySettings, PLANNER_SETTINGS_SQL, setModelPlannerSettings, setRunSettings, withLocalSettings } from './session.ts';
export { isDatabaseError, isSqlFault, modelSqlError, type SqlErrorSource } from './sql-error.ts';
export { attempt, readersSql, recreateViewSql, type ViewReader } from './readers.ts';
