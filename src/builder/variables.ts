import { declareArgs } from '../kubefile/expanded.js';
import type { Kubefile } from '../kubefile/instructions.js';
import { hostPlatform, type Platform } from '../oci/platform.js';

/** The platform arguments docker defines (TARGET*) plus sealer's ARCH, for one platform. */
export function platformArgs(target: Platform, build: Platform): Record<string, string> {
  return {
    TARGETPLATFORM: formatPlatformArg(target),
    TARGETOS: target.os,
    TARGETARCH: target.architecture,
    TARGETVARIANT: target.variant ?? '',
    BUILDPLATFORM: formatPlatformArg(build),
    BUILDOS: build.os,
    BUILDARCH: build.architecture,
    BUILDVARIANT: build.variant ?? '',
    ARCH: target.architecture,
  };
}

/** The scope FROM lines see when building for `platform`: --build-arg, the platform args and the ARGs before the first FROM. */
export function globalScope(kubefile: Kubefile, buildArgs: ReadonlyMap<string, string>, platform: Platform): VariableScope {
  const globals = new VariableScope(buildArgs, platformArgs(platform, hostPlatform()));
  for (const ins of kubefile.globalArgs) declareArgs(ins, globals);
  return globals;
}

function formatPlatformArg(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/**
 * Variables visible while building: docker's rules for ARG and ENV. An ARG takes its value
 * from --build-arg, else (inside a stage) from the same-named global ARG, else its default.
 * A global ARG is only visible in a stage once redeclared there. ENV wins over ARG. The
 * platform arguments are visible everywhere without declaration, because sealer's Kubefiles
 * use `${ARCH}` that way.
 */
export class VariableScope {
  private readonly args = new Map<string, string | undefined>();
  private readonly env = new Map<string, string>();

  constructor(
    private readonly buildArgs: ReadonlyMap<string, string>,
    private readonly builtins: Readonly<Record<string, string>>,
    private readonly globals: ReadonlyMap<string, string | undefined> = new Map(),
    private readonly consumed: Set<string> = new Set(),
  ) {}

  /** A stage's scope: it sees global ARGs only after redeclaring them. */
  stageScope(): VariableScope {
    return new VariableScope(this.buildArgs, this.builtins, new Map(this.args), this.consumed);
  }

  declareArg(name: string, defaultValue: string | undefined): void {
    if (this.buildArgs.has(name)) {
      this.consumed.add(name);
      this.args.set(name, this.buildArgs.get(name));
    } else if (defaultValue !== undefined) {
      this.args.set(name, defaultValue);
    } else {
      // `ARG TARGETARCH` without a value gets the platform's, as in docker.
      this.args.set(name, this.globals.get(name) ?? this.builtins[name]);
    }
  }

  setEnv(name: string, value: string): void {
    this.env.set(name, value);
  }

  lookup = (name: string): string | undefined => {
    if (this.env.has(name)) return this.env.get(name);
    if (this.args.has(name)) return this.args.get(name);
    return this.builtins[name];
  };

  /**
   * The environment a RUN command gets: the ARGs declared so far that have a value, then
   * ENV over them. As in docker, an undeclared ARG (platform ones included) is not there.
   */
  runEnvironment(): Map<string, string> {
    const env = new Map<string, string>();
    for (const [name, value] of this.args) if (value !== undefined) env.set(name, value);
    for (const [name, value] of this.env) env.set(name, value);
    return env;
  }

  /** --build-arg names no ARG declared (docker warns about these). */
  unusedBuildArgs(): string[] {
    return [...this.buildArgs.keys()].filter((k) => !this.consumed.has(k) && !(k in this.builtins));
  }
}
