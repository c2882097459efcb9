/**
 * The layer rules of ../shared/DESIGN.md ("Layers and where they live"), checked by `npm run lint`
 * (docs/architecture.md explains them). Type-only imports, inline `import('...')` types and
 * re-exports count: `tsPreCompilationDeps` keeps them in the graph.
 */
const layer = (name) => `^src/${name}/`;
/** Paths a layer may import, beside itself; npm packages are handled by the `npm-*` rules. */
const allowed = {
  net: [],
  model: ['src/net'],
  parsers: ['src/model', 'src/net'],
  simulate: ['src/model', 'src/net'],
  trace: ['src/model', 'src/net', 'src/simulate'],
  checks: ['src/simulate', 'src/trace', 'src/model', 'src/net'],
  report: ['src/model', 'src/net'],
  topology: ['src/model', 'src/net'],
  changes: ['src/model', 'src/net'],
  collect: ['parsers', 'src/model', 'src/net'],
  install: ['src/collect', 'src/model', 'src/net'],
  agent: ['src/collect', 'src/simulate', 'src/checks', 'src/trace', 'src/changes', 'src/report', 'src/model', 'src/net'],
  aggregator: ['src/collect', 'src/simulate', 'src/checks', 'src/trace', 'src/changes', 'src/report', 'src/model', 'src/net'],
  dashboard: [],
};
const esc = (p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'Import circles hide which layer owns what (DESIGN.md: "No import circles").',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...Object.entries(allowed).map(([name, may]) => ({
      name: `layer-${name}`,
      comment: `${name === 'parsers' ? 'parsers/' : `src/${name}/`} may import only ${may.length ? may.join(', ') : 'itself'} (DESIGN.md's layer table).`,
      severity: 'error',
      from: { path: name === 'parsers' ? '^parsers/' : layer(name) },
      to: {
        dependencyTypesNot: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-bundled', 'npm-no-pkg', 'npm-unknown', 'core'],
        // package.json is read for the version only (src/collect/collect.ts).
        pathNot: [`^${name === 'parsers' ? 'parsers' : `src/${name}`}/`, ...may.map((p) => `^${esc(p)}/`), 'package\\.json$'],
      },
    })),
    {
      name: 'model-npm',
      comment: 'src/model holds no I/O: of npm packages it may use zod and ip-cidr only, and no Node built-in.',
      severity: 'error',
      from: { path: '^src/model/' },
      to: { dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-no-pkg', 'npm-unknown', 'core'], pathNot: ['node_modules/(zod|ip-cidr)/'] },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve cannot be checked.',
      severity: 'error',
      from: { path: '^(src|parsers)/' },
      // The version read from package.json tries the build/ layout first (src/collect/collect.ts).
      to: { couldNotResolve: true, pathNot: 'package\\.json$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.json'] },
  },
};
