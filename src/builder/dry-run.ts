import { expandWord, expandWords } from '../kubefile/expand.js';
import type { Instruction, Kubefile } from '../kubefile/instructions.js';
import { formatPlatform, hostPlatform, type Platform } from '../oci/platform.js';
import type { Reporter } from '../util/reporter.js';
import { BuildContext } from './context.js';
import { readKubefile } from './kubefile-source.js';
import { VariableScope, platformArgs } from './variables.js';

export interface DryRunOptions {
  contextDir: string;
  kubefile?: string;
  platforms: Platform[];
  buildArgs: Map<string, string>;
  reporter: Reporter;
  /** Images --image-list names (the ones found in manifests are known only once the rootfs is built). */
  listedImages: string[];
}

/**
 * `build --dry-run`: the Kubefile parsed, every word expanded and every context source
 * resolved, per platform, with nothing pulled, run or written. Returns the plan's lines;
 * throws the error the build would meet first in these checks. Variables a base image's ENV
 * would set are unknown here (the base is not read).
 */
export async function dryRun(options: DryRunOptions): Promise<string[]> {
  const context = await BuildContext.open(options.contextDir, (message) => options.reporter.warn(message));
  const kubefile = await readKubefile(options.contextDir, options.kubefile, options.reporter);
  const lines: string[] = [];
  for (const platform of options.platforms) {
    lines.push(`platform ${formatPlatform(platform)}`);
    lines.push(...(await planPlatform(kubefile, platform, context, options)));
  }
  lines.push(`images from --image-list: ${options.listedImages.length === 0 ? 'none' : options.listedImages.join(' ')}`);
  return lines;
}

async function planPlatform(kubefile: Kubefile, platform: Platform, context: BuildContext, options: DryRunOptions): Promise<string[]> {
  const globals = new VariableScope(options.buildArgs, platformArgs(platform, hostPlatform()));
  for (const ins of kubefile.globalArgs) {
    for (const arg of ins.args) globals.declareArg(arg.name, arg.defaultValue === undefined ? undefined : expandWord(arg.defaultValue, globals.lookup, ins.pos));
  }
  const lines: string[] = [];
  for (const stage of kubefile.stages) {
    const scope = globals.stageScope();
    const image = expandWord(stage.from.image, globals.lookup, stage.from.pos);
    lines.push(`  stage ${stage.index}${stage.from.alias !== undefined ? ` (${stage.from.alias})` : ''}: FROM ${image}`);
    for (const ins of stage.instructions) lines.push(`    ${await step(ins, scope, context)}`);
  }
  return lines;
}

/** One step with its words expanded; ARG and ENV also update the scope, as the build does. */
async function step(ins: Exclude<Instruction, { kind: 'FROM' }>, scope: VariableScope, context: BuildContext): Promise<string> {
  const x = (word: string) => expandWord(word, scope.lookup, ins.pos);
  switch (ins.kind) {
    case 'ARG':
      for (const arg of ins.args) scope.declareArg(arg.name, arg.defaultValue === undefined ? undefined : x(arg.defaultValue));
      return `ARG ${ins.args.map((a) => `${a.name}=${scope.lookup(a.name) ?? ''}`).join(' ')}`;
    case 'ENV': {
      const pairs = ins.pairs.map((p) => [x(p.key), x(p.value)] as const);
      for (const [k, v] of pairs) scope.setEnv(k, v);
      return `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
    }
    case 'LABEL':
    case 'APPENV':
      return `${ins.kind} ${ins.kind === 'APPENV' ? `${ins.name} ` : ''}${ins.pairs.map((p) => `${x(p.key)}=${x(p.value)}`).join(' ')}`;
    case 'COPY':
    case 'ADD': {
      const sources = expandWords(ins.sources, scope.lookup, ins.pos);
      // Sources from the context must exist there (COPY --from ones are in a stage or image).
      if (ins.kind === 'ADD' || ins.from === undefined) {
        for (const source of sources) if (!/^https?:\/\//.test(source)) await context.resolve(source, ins.kind, ins.pos);
      }
      return `${ins.kind}${ins.kind === 'COPY' && ins.from !== undefined ? ` --from=${x(ins.from)}` : ''} ${sources.join(' ')} -> ${x(ins.dest)}`;
    }
    case 'APP':
    case 'CNI':
    case 'CSI': {
      const sources = expandWords(ins.sources, scope.lookup, ins.pos);
      for (const source of sources) if (source.startsWith('local://')) await context.resolve(source.slice('local://'.length), ins.kind, ins.pos);
      return `${ins.kind} ${ins.name} ${sources.join(' ')} -> application/apps/${ins.name}/`;
    }
    case 'MAINTAINER':
      return `MAINTAINER ${x(ins.name)}`;
    case 'KUBEVERSION':
      return `KUBEVERSION ${x(ins.version)}`;
    case 'USER':
      return `USER ${x(ins.user)}`;
    case 'WORKDIR':
      return `WORKDIR ${x(ins.path)}`;
    case 'STOPSIGNAL':
      return `STOPSIGNAL ${x(ins.signal)}`;
    case 'EXPOSE':
      return `EXPOSE ${expandWords(ins.ports, scope.lookup, ins.pos).join(' ')}`;
    case 'VOLUME':
      return `VOLUME ${expandWords(ins.paths, scope.lookup, ins.pos).join(' ')}`;
    default:
      // RUN, CMD, CMDS, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD, LAUNCH, APPCMDS: not expanded by the build either.
      return ins.text;
  }
}
