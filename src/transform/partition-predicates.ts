/**
 * The predicates "a row's value is in / is not in an update's partitions" (the `partitions` table
 * of an update's schema: one `key` per partition, NULL a partition of its own), as SQL text for
 * any place a predicate goes. The update (incremental.ts) and the read of bronze by line
 * (bronze-lines.ts) both use them.
 */

/**
 * `relation in partitions` for a column (NULL is a partition of its own), as a predicate for any
 * place (a filter, a `count(*) filter`): one hashed lookup per row, never an index scan (the OR
 * keeps the planner from a join). A read of the rows of the partitions alone is partitionRows
 * (incremental.ts).
 */
export function inPartitions(column: string, partitions: string): string {
  return `(${column} in (select key from ${partitions} where key is not null) or (${column} is null and exists (select from ${partitions} where key is null)))`;
}

/** The negation of inPartitions, NULL-safe. */
export function notInPartitions(column: string, partitions: string): string {
  return `(not coalesce(${column} in (select key from ${partitions} where key is not null), false) and not (${column} is null and exists (select from ${partitions} where key is null)))`;
}
