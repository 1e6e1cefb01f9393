/**
 * The model graph: a stable topological order (Kahn's algorithm, alphabetical among models that
 * are ready at the same time, so that the same project always builds in the same order) and a
 * MODEL_CYCLE error naming the cycle path when there is none.
 */
import { DataError } from '../errors.ts';
import { modelDependencies } from './dependencies.ts';
import type { Model, RelationName } from './types.ts';

/** The models in build order. Throws MODEL_CYCLE if the graph has a cycle. */
export function orderModels<M extends Pick<Model, 'name' | 'dependencies' | 'sqlFile'>>(models: readonly M[]): M[] {
  const byName = new Map(models.map((m) => [m.name, m]));
  const waitingOn = new Map<RelationName, number>();
  const dependents = new Map<RelationName, RelationName[]>();
  for (const m of models) {
    const deps = modelDependencies(m).filter((d) => byName.has(d) && d !== m.name);
    waitingOn.set(m.name, deps.length);
    for (const d of deps) dependents.set(d, [...(dependents.get(d) ?? []), m.name]);
  }
  // A model reading itself is a cycle of one.
  const selfLoop = models.find((m) => m.dependencies.includes(m.name));
  if (selfLoop) throwCycle([selfLoop.name, selfLoop.name], byName);

  const ready = models.filter((m) => waitingOn.get(m.name) === 0).map((m) => m.name);
  const order: M[] = [];
  while (ready.length > 0) {
    ready.sort();
    const name = ready.shift()!;
    order.push(byName.get(name)!);
    for (const d of dependents.get(name) ?? []) {
      const left = waitingOn.get(d)! - 1;
      waitingOn.set(d, left);
      if (left === 0) ready.push(d);
    }
  }
  if (order.length < models.length) {
    const remaining = new Set(models.map((m) => m.name).filter((n) => waitingOn.get(n)! > 0));
    throwCycle(findCycle(remaining, byName), byName);
  }
  return order;
}

/** One cycle among the models left over by the topological sort, as a closed path a → b → a. */
function findCycle<M extends Pick<Model, 'name' | 'dependencies'>>(remaining: Set<RelationName>, byName: Map<RelationName, M>): RelationName[] {
  const start = [...remaining].sort()[0]!;
  // Every remaining model has a remaining dependency; walking dependencies must revisit a node.
  const path: RelationName[] = [];
  const seenAt = new Map<RelationName, number>();
  let current = start;
  while (!seenAt.has(current)) {
    seenAt.set(current, path.length);
    path.push(current);
    const next = modelDependencies(byName.get(current)!)
      .filter((d) => remaining.has(d))
      .sort()[0]!;
    current = next;
  }
  const cycle = path.slice(seenAt.get(current)!);
  // Present it in reading order: a is read by b is read by … (dependency → dependent).
  cycle.reverse();
  // Start the path at its alphabetically first model, so the message is stable.
  const first = cycle.indexOf([...cycle].sort()[0]!);
  const rotated = [...cycle.slice(first), ...cycle.slice(0, first)];
  return [...rotated, rotated[0]!];
}

function throwCycle<M extends Pick<Model, 'name' | 'sqlFile'>>(path: RelationName[], byName: Map<RelationName, M>): never {
  const files = [...new Set(path)].map((n) => byName.get(n)?.sqlFile ?? n);
  throw new DataError('MODEL_CYCLE', `models depend on each other in a cycle: ${path.join(' → ')}`, {
    file: files[0],
    cycle: path,
    files,
    hint: 'Each arrow means "is read by"; remove one of these references so the models can be built in order.',
  });
}
