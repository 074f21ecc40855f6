/**
 * YAML loading that remembers where each key and value was written.
 *
 * js-yaml 4 gives values without positions, but its `listener` option reports
 * every node as it opens and closes. A stack turns those events into a tree of
 * nodes with offsets, and a walk of that tree names each node by its key path
 * (`services[0].healthCheck.interval`), the same path validation reports.
 */
import { load, YAMLException } from 'js-yaml';

export interface Position {
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

export interface YamlDocument {
  value: unknown;
  /** Where the value at a path was written; falls back to the nearest enclosing node that was. */
  valueAt(path: string): Position;
  /** Where the key of the value at a path was written (the value's own position for list items). */
  keyAt(path: string): Position;
}

export type YamlResult = { ok: true; doc: YamlDocument } | { ok: false; message: string; position: Position };

interface Node {
  open: number;
  end: number;
  kind: string | null;
  result: unknown;
  children: Node[];
}

/** Parses YAML text into a value and a map from key paths to positions. */
export function parseYaml(text: string): YamlResult {
  const stack: Node[] = [];
  const roots: Node[] = [];
  let value: unknown;
  try {
    value = load(text, {
      listener(event, state) {
        if (event === 'open') {
          stack.push({ open: state.position, end: 0, kind: null, result: undefined, children: [] });
          return;
        }
        const node = stack.pop()!;
        node.end = state.position;
        node.kind = state.kind;
        node.result = state.result;
        // A block mapping first reads its would-be first key; when no ':' follows, that
        // read becomes the node itself and would otherwise show as its only child.
        const only = node.children.length === 1 ? node.children[0]! : undefined;
        if (only && only.kind === node.kind && Object.is(only.result, node.result)) node.children = only.children;
        (stack.length > 0 ? stack[stack.length - 1]!.children : roots).push(node);
      },
    });
  } catch (err) {
    if (err instanceof YAMLException) {
      const mark = (err as YAMLException & { mark?: { line: number; column: number } }).mark;
      return {
        ok: false,
        message: err.reason,
        position: mark ? { line: mark.line + 1, column: mark.column + 1 } : { line: 1, column: 1 },
      };
    }
    throw err;
  }
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  const at = (offset: number): Position => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - lineStarts[lo]! + 1 };
  };

  const values = new Map<string, number>();
  const keys = new Map<string, number>();
  const start = (node: Node) => skipSeparation(text, node.open);
  const empty = (node: Node) => node.kind === null && node.result == null;

  const visit = (node: Node, path: string, keyOffset: number) => {
    keys.set(path, keyOffset);
    if (!empty(node)) values.set(path, start(node));
    if (node.kind === 'mapping') {
      let mergeKey: number | undefined;
      for (let i = 0; i < node.children.length; i++) {
        const key = node.children[i]!;
        if (empty(key)) continue;
        const name = String(key.result);
        const hasValue = text.charCodeAt(skipSeparation(text, key.end)) === 58; /* ':' */
        const child = hasValue ? node.children[i + 1] : undefined;
        if (hasValue) i++;
        if (name === '<<') mergeKey = start(key);
        else if (child) visit(child, joinKey(path, name), start(key));
        else keys.set(joinKey(path, name), start(key));
      }
      // Keys brought in by a merge (`<<: *base`) were written at the anchor; point at the merge.
      if (mergeKey !== undefined && node.result && typeof node.result === 'object') {
        for (const name of Object.keys(node.result)) {
          const p = joinKey(path, name);
          if (!keys.has(p)) keys.set(p, mergeKey);
        }
      }
    } else if (node.kind === 'sequence' && Array.isArray(node.result)) {
      // An empty item (`-` alone) has no node of its own, so align the nodes with the items they produced.
      const items = node.result;
      let c = 0;
      for (let i = 0; i < items.length && c < node.children.length; i++) {
        const child = node.children[c]!;
        if (!Object.is(child.result, items[i])) continue;
        visit(child, joinIndex(path, i), start(child));
        c++;
      }
    }
  };
  if (roots.length > 0) visit(roots[0]!, '', start(roots[0]!));

  const lookup = (map: Map<string, number>, path: string): Position => {
    for (let p: string | undefined = path; p !== undefined; p = parentPath(p)) {
      const off = map.get(p) ?? values.get(p) ?? keys.get(p);
      if (off !== undefined) return at(off);
    }
    return { line: 1, column: 1 };
  };
  return {
    ok: true,
    doc: { value, valueAt: (path) => lookup(values, path), keyAt: (path) => lookup(keys, path) },
  };
}

/** `a.b` for a mapping key; `a["odd key"]` when the key is not a plain identifier. */
export function joinKey(path: string, key: string): string {
  if (!/^[A-Za-z_$][\w$-]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

export function joinIndex(path: string, index: number): string {
  return `${path}[${index}]`;
}

function parentPath(path: string): string | undefined {
  if (path === '') return undefined;
  const m = /(?:\.[^.[\]]+|\[(?:\d+|"(?:[^"\\]|\\.)*")\])$/.exec(path);
  return m ? path.slice(0, m.index) : '';
}

/** The offset of the next content after spaces, line breaks and comments. */
function skipSeparation(text: string, from: number): number {
  let i = from;
  while (i < text.length) {
    const ch = text.charCodeAt(i);
    if (ch === 32 || ch === 9 || ch === 10 || ch === 13) i++;
    else if (ch === 35 /* # */) while (i < text.length && text.charCodeAt(i) !== 10) i++;
    else break;
  }
  return i;
}
