import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import ts from 'typescript';

/** One import edge between two files of the repository. */
export interface ImportEdge {
  /** Importing file, relative to the root, with forward slashes. */
  from: string;
  /** Imported file as written after resolving `./` and `../` (the `.js` the compiler will emit). */
  to: string;
  /** `import type` / `export type`: erased by the compiler, never loaded at run time. */
  typeOnly: boolean;
  line: number;
}

/** A broken rule, with the place and the import that breaks it. */
export interface Violation {
  edge: ImportEdge;
  rule: string;
}

const SOURCE = /\.(ts|tsx|mts|mjs|js)$/;

/** Every relative import of one source text; bare specifiers (packages, node:) are not ours. */
export function importsOf(file: string, text: string): ImportEdge[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const edges: ImportEdge[] = [];
  const add = (spec: ts.Node | undefined, typeOnly: boolean, at: ts.Node) => {
    if (!spec || !ts.isStringLiteralLike(spec)) return;
    if (!spec.text.startsWith('.')) return;
    const to = relative('.', join(dirname(file), spec.text)).split(sep).join('/');
    edges.push({ from: file, to, typeOnly, line: sf.getLineAndCharacterOfPosition(at.getStart(sf)).line + 1 });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const c = node.importClause;
      // `import { type A, type B } from` is erased too when every named binding is a type.
      const allTypeNames = !!c && !c.name && !!c.namedBindings && ts.isNamedImports(c.namedBindings) && c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier, !!c && (c.isTypeOnly || allTypeNames), node);
    } else if (ts.isExportDeclaration(node)) {
      add(node.moduleSpecifier, node.isTypeOnly, node);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], false, node);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly, node);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, true, node);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return edges;
}

/** Every relative import of every source file under `dirs` (paths relative to `root`). */
export function scanTree(root: string, dirs: readonly string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(join(root, dir))) {
      if (name === 'node_modules') continue;
      const rel = `${dir}/${name}`;
      if (statSync(join(root, rel)).isDirectory()) walk(rel);
      else if (SOURCE.test(name) && !name.endsWith('.d.ts')) edges.push(...importsOf(rel, readFileSync(join(root, rel), 'utf8')));
    }
  };
  for (const d of dirs) walk(d);
  return edges;
}

/** The top folder (program) a repository path belongs to. */
export function programOf(path: string): string {
  return path.split('/')[0]!;
}

/** The wire module: the only controller file a client may import, and only its types. */
export const WIRE_MODULE = 'controller/api/wire';

const withoutExt = (p: string) => p.replace(/\.(js|ts|mjs|mts)$/, '');

/**
 * The dependency rule: agent/ and controller/ stand side by side on shared/; cli/ knows
 * shared/ and the controller's wire types; shared/ knows no program.
 */
export function checkDependencyRule(edges: readonly ImportEdge[]): Violation[] {
  const out: Violation[] = [];
  for (const e of edges) {
    const from = programOf(e.from);
    const to = programOf(e.to);
    if (from === to || to === 'node_modules') continue;
    // web/ is the dashboard's browser code: it talks to the controller over HTTP only.
    if (from === 'web') {
      if (withoutExt(e.to) !== WIRE_MODULE || !e.typeOnly) out.push({ edge: e, rule: `web/ imports only web/ (and ${WIRE_MODULE}.ts with "import type")` });
      continue;
    }
    if (to === 'web') {
      out.push({ edge: e, rule: `${from}/ never imports web/ (browser code)` });
      continue;
    }
    if (from === 'agent' && (to === 'controller' || to === 'cli')) out.push({ edge: e, rule: `agent/ never imports ${to}/` });
    else if (from === 'controller' && (to === 'agent' || to === 'cli')) out.push({ edge: e, rule: `controller/ never imports ${to}/` });
    else if (from === 'shared' && (to === 'agent' || to === 'controller' || to === 'cli')) out.push({ edge: e, rule: `shared/ never imports ${to}/` });
    else if (from === 'cli' && to !== 'shared') {
      if (withoutExt(e.to) !== WIRE_MODULE) out.push({ edge: e, rule: `cli/ imports only shared/ and ${WIRE_MODULE}.ts` });
      else if (!e.typeOnly) out.push({ edge: e, rule: `cli/ imports ${WIRE_MODULE}.ts with "import type" only` });
    }
  }
  return out;
}

/**
 * Folder ties inside a program: two capability folders (`agent/health`, `agent/metrics`)
 * importing each other, types included, mean neither can be read or moved alone.
 */
export function twoWayFolderTies(edges: readonly ImportEdge[]): Array<[string, string]> {
  const folderOf = (p: string) => {
    const parts = p.split('/');
    return parts.length > 2 ? `${parts[0]}/${parts[1]}` : undefined;
  };
  const pairs = new Set<string>();
  for (const e of edges) {
    const a = folderOf(e.from);
    const b = folderOf(e.to);
    if (a && b && a !== b) pairs.add(`${a}\0${b}`);
  }
  const ties: Array<[string, string]> = [];
  for (const p of pairs) {
    const [a, b] = p.split('\0') as [string, string];
    if (a < b && pairs.has(`${b}\0${a}`)) ties.push([a, b]);
  }
  return ties.sort();
}

/** What the compiler emits for a module: empty (but for `export {}`) when it holds only types. */
export function runtimeCodeOf(file: string, text: string): string {
  const js = ts.transpileModule(text, { fileName: file, compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false } }).outputText;
  return js
    .replace(/\/\/# sourceMappingURL=.*$/m, '')
    .replace(/^\s*export\s*\{\s*\};?\s*$/m, '')
    .trim();
}

