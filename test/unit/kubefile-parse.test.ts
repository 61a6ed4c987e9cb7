import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandWord } from '../../src/kubefile/expand.js';
import { expandInstruction } from '../../src/kubefile/expanded.js';
import type { CopyInstruction, EnvInstruction, Instruction, Kubefile } from '../../src/kubefile/instructions.js';
import { parseKubefile } from '../../src/kubefile/parse.js';
import { closest, editDistance } from '../../src/kubefile/suggest.js';
import { KubefileError } from '../../src/util/errors.js';

const HEX = '0123456789abcdef'.repeat(4);

function parse(text: string): Kubefile {
  return parseKubefile(text, 'Kubefile');
}

/** Every instruction in file order, FROMs included. */
function all(kubefile: Kubefile): Instruction[] {
  return [...kubefile.globalArgs, ...kubefile.stages.flatMap((s) => [s.from, ...s.instructions])];
}

/** An instruction's own fields, without where it came from. */
function fields(instruction: Instruction | undefined): Record<string, unknown> {
  assert.ok(instruction);
  const { pos: _pos, text: _text, ...rest } = instruction;
  return rest;
}

/** The instructions after the single FROM. */
function body(text: string): Record<string, unknown>[] {
  const kubefile = parse(text);
  assert.equal(kubefile.stages.length, 1);
  return kubefile.stages[0]!.instructions.map(fields);
}

function throwsAt(text: string, where: string, message: string, hint?: string | RegExp): void {
  assert.throws(
    () => parse(text),
    (error: unknown) => {
      assert.ok(error instanceof KubefileError, String(error));
      assert.equal(error.message, `Kubefile:${where}: ${message}`);
      if (typeof hint === 'string') assert.equal(error.hint, hint);
      else if (hint !== undefined) assert.match(error.hint ?? '', hint);
      return true;
    },
  );
}

const LAUNCH_KUBEFILE = `# A ClusterImage with a dashboard and nginx
ARG VERSION=v1.22.15
ARG REGISTRY
FROM --platform=linux/amd64 \${REGISTRY}/sealerio/kubernetes:\${VERSION} AS base
MAINTAINER "Jane Doe <jane@example.com>"
LABEL app.version=1.0 description="a cluster image"
ENV KUBECONFIG=/etc/kubernetes/admin.conf
ENV GREETING hello   big world
KUBEVERSION v1.22.15
COPY --chmod=0644 --chown=0:0 . .
ADD --checksum=sha256:${HEX} https://example.com/tools.tar.gz /opt/
RUN wget -O dashboard.yaml https://example.com/recommended.yaml
RUN ["sh", "-c", "echo $HOME"]
APP nginx local://nginx.yaml https://example.com/svc.yaml
CNI calico local://calico
CSI openebs local://openebs/
APPENV nginx replicas=2 image="nginx:1.25"
APPCMDS nginx ["kubectl apply -f nginx.yaml", "kubectl get pods"]
LAUNCH ["calico", "nginx"]
`;

test('a realistic Kubefile: every instruction kind, in order', () => {
  const kubefile = parse(LAUNCH_KUBEFILE);
  assert.equal(kubefile.file, 'Kubefile');
  assert.deepEqual(kubefile.globalArgs.map(fields), [
    { kind: 'ARG', args: [{ name: 'VERSION', defaultValue: 'v1.22.15' }] },
    { kind: 'ARG', args: [{ name: 'REGISTRY' }] },
  ]);
  assert.equal(kubefile.stages.length, 1);
  const [stage] = kubefile.stages;
  assert.equal(stage!.index, 0);
  assert.deepEqual(fields(stage!.from), {
    kind: 'FROM',
    image: '${REGISTRY}/sealerio/kubernetes:${VERSION}',
    platform: 'linux/amd64',
    alias: 'base',
  });
  assert.deepEqual(stage!.instructions.map(fields), [
    { kind: 'MAINTAINER', name: '"Jane Doe <jane@example.com>"' },
    { kind: 'LABEL', pairs: [{ key: 'app.version', value: '1.0' }, { key: 'description', value: '"a cluster image"' }] },
    { kind: 'ENV', pairs: [{ key: 'KUBECONFIG', value: '/etc/kubernetes/admin.conf' }] },
    { kind: 'ENV', pairs: [{ key: 'GREETING', value: 'hello   big world' }] },
    { kind: 'KUBEVERSION', version: 'v1.22.15' },
    { kind: 'COPY', sources: ['.'], dest: '.', chmod: '0644', chown: '0:0' },
    { kind: 'ADD', sources: ['https://example.com/tools.tar.gz'], dest: '/opt/', checksum: `sha256:${HEX}` },
    { kind: 'RUN', form: 'shell', args: ['wget -O dashboard.yaml https://example.com/recommended.yaml'] },
    { kind: 'RUN', form: 'exec', args: ['sh', '-c', 'echo $HOME'] },
    { kind: 'APP', name: 'nginx', sources: ['local://nginx.yaml', 'https://example.com/svc.yaml'] },
    { kind: 'CNI', name: 'calico', sources: ['local://calico'] },
    { kind: 'CSI', name: 'openebs', sources: ['local://openebs/'] },
    { kind: 'APPENV', name: 'nginx', pairs: [{ key: 'replicas', value: '2' }, { key: 'image', value: '"nginx:1.25"' }] },
    { kind: 'APPCMDS', name: 'nginx', commands: ['kubectl apply -f nginx.yaml', 'kubectl get pods'] },
    { kind: 'LAUNCH', apps: ['calico', 'nginx'] },
  ]);
});

test('positions are the 1-based line and column of each keyword; text is the instruction', () => {
  const kubefile = parse('\n  FROM scratch\n\n# comment\n\tCOPY  a   b  \nCMDS ["x"]');
  const [from, copy, cmds] = all(kubefile);
  assert.deepEqual(from!.pos, { file: 'Kubefile', line: 2, col: 3 });
  assert.equal(from!.text, 'FROM scratch');
  assert.deepEqual(copy!.pos, { file: 'Kubefile', line: 5, col: 2 });
  assert.equal(copy!.text, 'COPY  a   b', 'trimmed, inner spacing kept');
  assert.deepEqual(cmds!.pos, { file: 'Kubefile', line: 6, col: 1 });
  assert.equal(cmds!.text, 'CMDS ["x"]');
});

test('the sealer quick-start Kubefile', () => {
  const kubefile = parse('FROM scratch\nCOPY . .\nAPP nginx local://nginx.yaml\nAPPCMDS nginx ["kubectl apply -f nginx.yaml"]\nLAUNCH ["nginx"]\n');
  assert.deepEqual(fields(kubefile.stages[0]!.from), { kind: 'FROM', image: 'scratch' });
  assert.deepEqual(kubefile.stages[0]!.instructions.map((i) => i.kind), ['COPY', 'APP', 'APPCMDS', 'LAUNCH']);
});

test('keywords are case-insensitive; AS too', () => {
  const kubefile = parse('from scratch as Build\n'.replace('Build', 'build') + 'Copy a b\nlaunch ["app"]');
  assert.deepEqual(all(kubefile).map((i) => i.kind), ['FROM', 'COPY', 'LAUNCH']);
  assert.equal(kubefile.stages[0]!.from.alias, 'build');
  assert.equal(all(kubefile)[1]!.text, 'Copy a b', 'text keeps the keyword as written');
});

test('CMDS and a deprecated CMD', () => {
  assert.deepEqual(body('FROM k8s\nCMD kubectl apply -f "a b.yaml"  \nCMDS ["kubectl get nodes", "echo \\"done\\""]'), [
    { kind: 'CMD', command: 'kubectl apply -f "a b.yaml"', form: 'shell', args: ['kubectl apply -f "a b.yaml"'] },
    { kind: 'CMDS', commands: ['kubectl get nodes', 'echo "done"'] },
  ]);
  assert.deepEqual(body('FROM k8s\nCMDS kubectl apply -f x.yaml && echo ok'), [
    { kind: 'CMDS', commands: ['kubectl apply -f x.yaml && echo ok'] },
  ]);
});

test('APPCMDS JSON is read as JSON, not as shell words', () => {
  // Under a backtick escape, JSON's \" leaves an odd number of shell quotes.
  const kubefile = parse('# escape=`\nFROM k8s\nAPPCMDS app ["echo \\"", "it\'s"]');
  assert.deepEqual(fields(kubefile.stages[0]!.instructions[0]), { kind: 'APPCMDS', name: 'app', commands: ['echo "', "it's"] });
});

test('LAUNCH also takes space-separated names', () => {
  assert.deepEqual(body('FROM k8s\nLAUNCH calico  nginx'), [{ kind: 'LAUNCH', apps: ['calico', 'nginx'] }]);
});

test('ARG declares several names, with or without defaults', () => {
  assert.deepEqual(body('FROM k8s\nARG A B=2 C="x y" D='), [
    { kind: 'ARG', args: [{ name: 'A' }, { name: 'B', defaultValue: '2' }, { name: 'C', defaultValue: '"x y"' }, { name: 'D', defaultValue: '' }] },
  ]);
});

test('ENV/LABEL words keep quotes, escapes and $ for expansion', () => {
  const [env] = body('FROM k8s\nENV a=$X b="v 2" c=\'$lit\' d=x\\ y e="${X:-d f}"');
  assert.deepEqual(env, {
    kind: 'ENV',
    pairs: [
      { key: 'a', value: '$X' },
      { key: 'b', value: '"v 2"' },
      { key: 'c', value: "'$lit'" },
      { key: 'd', value: 'x\\ y' },
      { key: 'e', value: '"${X:-d f}"' },
    ],
  });
  assert.equal(env!.kind, 'ENV');
  const { pairs } = expandInstruction({ ...env, pos: { file: 'Kubefile', line: 2, col: 1 } } as unknown as EnvInstruction, (n) => (n === 'X' ? 'ex' : undefined));
  assert.deepEqual(pairs.map((p) => p.value), ['ex', 'v 2', '$lit', 'x y', 'ex']);
  assert.deepEqual(body('FROM k8s\nLABEL maintainer "Jane Doe"'), [{ kind: 'LABEL', pairs: [{ key: 'maintainer', value: '"Jane Doe"' }] }]);
});

test('continuation lines are joined; comment and blank lines inside are dropped', () => {
  const kubefile = parse('FROM scratch\nCOPY a \\\n  # a comment\n\n  b \\\n  c\nRUN apt-get update && \\\n    apt-get install -y curl\nENV A=1 \\\n    B=2');
  const [, copy, run, env] = all(kubefile);
  assert.deepEqual(fields(copy), { kind: 'COPY', sources: ['a', 'b'], dest: 'c' });
  assert.equal(copy!.text, 'COPY a   b   c');
  assert.deepEqual(fields(run), { kind: 'RUN', form: 'shell', args: ['apt-get update &&     apt-get install -y curl'] });
  assert.deepEqual(fields(env), { kind: 'ENV', pairs: [{ key: 'A', value: '1' }, { key: 'B', value: '2' }] });
  assert.deepEqual(run!.pos, { file: 'Kubefile', line: 7, col: 1 });
});

test('argument errors on a continuation line point at that line', () => {
  throwsAt('FROM k8s\nAPP nginx \\\n    local://a.yaml \\\n    nginx.yaml', '4:5', 'APP source "nginx.yaml" must start with local://, http:// or https://', /usage: APP <name>/);
});

test('CRLF line ends and a byte-order mark do not shift positions', () => {
  const kubefile = parse('\uFEFFFROM scratch\r\nCOPY a \\\r\n  b\r\n');
  assert.deepEqual(kubefile.stages[0]!.from.pos, { file: 'Kubefile', line: 1, col: 1 });
  assert.deepEqual(fields(kubefile.stages[0]!.instructions[0]), { kind: 'COPY', sources: ['a'], dest: 'b' });
  throwsAt('\uFEFFFROM scratch\r\nCOPY --mode=1 a b\r\n', '2:6', 'unknown flag --mode for COPY');
});

test('JSON-form COPY/ADD elements become double-quoted words that expand literally except $', () => {
  const [copy, add] = body('FROM k8s\nCOPY ["a b", "$ARCH/c", "q\\"uote", "back\\\\slash", "\'s\'", "/dest/"]\nADD --chown=1:1 [ "x" , "y" ]');
  assert.deepEqual(copy, { kind: 'COPY', sources: ['"a b"', '"$ARCH/c"', '"q\\"uote"', '"back\\\\slash"', '"\'s\'"'], dest: '"/dest/"' });
  assert.deepEqual(add, { kind: 'ADD', sources: ['"x"'], dest: '"y"', chown: '1:1' });
  const expanded = expandInstruction({ ...copy, pos: { file: 'Kubefile', line: 2, col: 1 } } as unknown as CopyInstruction, (n) => (n === 'ARCH' ? 'arm64' : undefined));
  assert.deepEqual(expanded.sources, ['a b', 'arm64/c', 'q"uote', 'back\\slash', "'s'"]);
});

test('RUN: exec form, and a [ that is not JSON is the shell form', () => {
  assert.deepEqual(body('FROM k8s\nRUN ["echo", "a\\nb", "$HOME"]\nRUN [ -f /etc/hosts ] && echo ok'), [
    { kind: 'RUN', form: 'exec', args: ['echo', 'a\nb', '$HOME'] },
    { kind: 'RUN', form: 'shell', args: ['[ -f /etc/hosts ] && echo ok'] },
  ]);
  throwsAt('FROM k8s\nRUN  ["echo", 1]', '2:6', 'RUN JSON array must hold only strings', /usage: RUN/);
  throwsAt('FROM k8s\nRUN []', '2:1', 'RUN needs a command');
});

test('flags: values are kept as written; -- ends the flags', () => {
  assert.deepEqual(body('FROM k8s\nCOPY --from=base --chown=$UID:0 --chmod=755 a b\nCOPY -- --odd-name dest'), [
    { kind: 'COPY', sources: ['a'], dest: 'b', from: 'base', chown: '$UID:0', chmod: '755' },
    { kind: 'COPY', sources: ['--odd-name'], dest: 'dest' },
  ]);
  assert.equal(parse('FROM --platform=$BUILDPLATFORM k8s').stages[0]!.from.platform, '$BUILDPLATFORM');
});

test('flag errors point at the flag and name the allowed flags', () => {
  throwsAt('FROM k8s\nCOPY --chmod=644 --link a b', '2:18', 'unknown flag --link for COPY', 'COPY accepts --chmod, --chown, --from');
  throwsAt('FROM k8s\nADD --from=base a b', '2:5', 'unknown flag --from for ADD', 'ADD accepts --chmod, --chown, --checksum');
  throwsAt('FROM --pull=always k8s', '1:6', 'unknown flag --pull for FROM', 'FROM accepts --platform');
  throwsAt('FROM k8s\nRUN --mount=type=cache,target=/x make', '2:5', 'unknown flag --mount for RUN', 'RUN accepts no flags');
  throwsAt('FROM k8s\nAPP --force nginx local://a.yaml', '2:5', 'unknown flag --force for APP', 'APP accepts no flags');
  throwsAt('FROM k8s\nCOPY --chown a b', '2:6', 'flag --chown needs a value', 'write --chown=<value>');
  throwsAt('FROM k8s\nCOPY --chown= a b', '2:6', 'flag --chown needs a value');
  throwsAt('FROM k8s\nCOPY --chown=1 --chown=2 a b', '2:16', 'flag --chown is given twice');
  throwsAt('FROM k8s\nCOPY --chmod=u+x a b', '2:6', 'invalid --chmod value "u+x"', /octal/);
  throwsAt('FROM k8s\nCOPY --chmod=75 a b', '2:6', 'invalid --chmod value "75"', /octal/);
  throwsAt('FROM k8s\nCOPY --chmod=0789 a b', '2:6', 'invalid --chmod value "0789"', /octal/);
  throwsAt('FROM k8s\nADD --checksum=sha256:ABC a b', '2:5', 'invalid --checksum value "sha256:ABC"', 'use sha256:<64 lowercase hex digits>');
  throwsAt(`FROM k8s\nADD --checksum=md5:${HEX} a b`, '2:5', `invalid --checksum value "md5:${HEX}"`);
});

test('unknown instructions: did-you-mean for near misses, the instruction set otherwise', () => {
  throwsAt('FROM k8s\n  COPPY a b', '2:3', 'unknown instruction "COPPY"', 'did you mean COPY?');
  throwsAt('FROM k8s\nlauch ["x"]', '2:1', 'unknown instruction "lauch"', 'did you mean LAUNCH?');
  throwsAt('FROM k8s\nAPPCMD x ["y"]', '2:1', 'unknown instruction "APPCMD"', 'did you mean APPCMDS?');
  throwsAt('FROM k8s\nDEPLOYMENT x', '2:1', 'unknown instruction "DEPLOYMENT"', /^a Kubefile supports: FROM, ARG, ENV, .*KUBEVERSION, ENTRYPOINT, .*ONBUILD$/);
});

test('the rest of the Dockerfile set parses into what the image config needs (#14 point 2)', () => {
  assert.deepEqual(
    body(`FROM k8s
CMD ["kubectl", "apply"]
CMD kubectl apply -f "a b.yaml"
ENTRYPOINT ["/init", "$HOME"]
ENTRYPOINT exec  /init
USER 65532:65532
WORKDIR /opt/$APP dir
EXPOSE 6443 8472/udp $PORT
VOLUME /data $LOGS
VOLUME ["/v 1", "$V"]
STOPSIGNAL SIGINT
SHELL ["/bin/bash", "-ec"]
HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=0 --retries=3 CMD curl -f http://localhost/ || exit 1
HEALTHCHECK CMD ["/check", "a b"]
healthcheck none
ONBUILD copy  a b
`),
    [
      { kind: 'CMD', command: '["kubectl", "apply"]', form: 'exec', args: ['kubectl', 'apply'] },
      { kind: 'CMD', command: 'kubectl apply -f "a b.yaml"', form: 'shell', args: ['kubectl apply -f "a b.yaml"'] },
      { kind: 'ENTRYPOINT', form: 'exec', args: ['/init', '$HOME'] },
      { kind: 'ENTRYPOINT', form: 'shell', args: ['exec  /init'] },
      { kind: 'USER', user: '65532:65532' },
      { kind: 'WORKDIR', path: '/opt/$APP dir' },
      { kind: 'EXPOSE', ports: ['6443', '8472/udp', '$PORT'] },
      { kind: 'VOLUME', paths: ['/data', '$LOGS'] },
      { kind: 'VOLUME', paths: ['"/v 1"', '"$V"'] },
      { kind: 'STOPSIGNAL', signal: 'SIGINT' },
      { kind: 'SHELL', shell: ['/bin/bash', '-ec'] },
      { kind: 'HEALTHCHECK', test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'], interval: 90e9, timeout: 500e6, retries: 3 },
      { kind: 'HEALTHCHECK', test: ['CMD', '/check', 'a b'] },
      { kind: 'HEALTHCHECK', test: ['NONE'] },
      { kind: 'ONBUILD', trigger: 'copy  a b' },
    ],
  );
});

test('Dockerfile instructions: errors docker gives too', () => {
  throwsAt('FROM k8s\nSHELL /bin/bash', '2:7', 'SHELL needs a JSON array of arguments');
  throwsAt('FROM k8s\nUSER', '2:1', 'USER needs a user');
  throwsAt('FROM k8s\nEXPOSE', '2:1', 'EXPOSE needs at least one port');
  throwsAt('FROM k8s\nHEALTHCHECK --interval=5 CMD x', '2:13', 'invalid --interval value "5": not a duration', /30s/);
  throwsAt('FROM k8s\nHEALTHCHECK --timeout=10us CMD x', '2:13', 'invalid --timeout value "10us": less than 1ms');
  throwsAt('FROM k8s\nHEALTHCHECK --retries=-1 CMD x', '2:13', 'invalid --retries value "-1"');
  throwsAt('FROM k8s\nHEALTHCHECK NONE x', '2:18', 'HEALTHCHECK NONE takes no arguments');
  throwsAt('FROM k8s\nHEALTHCHECK RUN x', '2:13', 'expected CMD or NONE after HEALTHCHECK, found "RUN"');
  throwsAt('FROM k8s\nHEALTHCHECK CMD', '2:13', 'HEALTHCHECK CMD needs a command');
  throwsAt('FROM k8s\nONBUILD FROM x', '2:9', 'FROM is not allowed as an ONBUILD trigger');
  throwsAt('FROM k8s\nONBUILD COPPY a b', '2:9', 'unknown instruction "COPPY"', 'did you mean COPY?');
  throwsAt('FROM k8s\nENTRYPOINT ["x", 1]', '2:12', 'ENTRYPOINT JSON array must hold only strings');
});

test('FROM structure', () => {
  throwsAt('ARG A\nENV B=1\nFROM k8s', '2:1', 'ENV before the first FROM', /only ARG may come before FROM/);
  throwsAt('# only a comment\nARG A=1\n', '1:1', 'no FROM instruction', /FROM scratch/);
  throwsAt('', '1:1', 'no FROM instruction');
  throwsAt('FROM', '1:1', 'FROM needs an image', /usage: FROM/);
  throwsAt('FROM --platform=linux/arm64', '1:1', 'FROM needs an image');
  throwsAt('FROM k8s base', '1:10', 'expected AS after the image, found "base"');
  throwsAt('FROM k8s AS', '1:10', 'AS needs a stage name');
  throwsAt('FROM k8s AS base extra', '1:18', 'unexpected "extra" after the stage name');
  throwsAt('FROM k8s AS Base', '1:13', 'invalid stage name "Base"', /lowercase/);
  throwsAt('FROM k8s AS 1st', '1:13', 'invalid stage name "1st"', /starting with a letter/);
  throwsAt('FROM a AS one\nFROM b AS one', '2:11', 'duplicate stage name "one"');
});

test('several stages and global ARGs', () => {
  const kubefile = parse('ARG BASE=k8s\nFROM $BASE AS build\nRUN make\nFROM scratch\nCOPY --from=build /out /\nLAUNCH ["app"]');
  assert.equal(kubefile.globalArgs.length, 1);
  assert.deepEqual(kubefile.stages.map((s) => [s.index, s.from.image, s.from.alias, s.instructions.map((i) => i.kind)]), [
    [0, '$BASE', 'build', ['RUN']],
    [1, 'scratch', undefined, ['COPY', 'LAUNCH']],
  ]);
});

test('LAUNCH, CMDS and CMD follow sealer rules', () => {
  throwsAt('FROM k8s\nLAUNCH ["a"]\nLAUNCH ["b"]', '3:1', 'LAUNCH may appear only once', /LAUNCH \["app", \.\.\.\]/);
  throwsAt('FROM k8s\nCMDS ["a"]\nCMDS ["b"]', '3:1', 'CMDS may appear only once');
  throwsAt('FROM k8s\nLAUNCH ["a"]\nCOPY a b', '2:1', 'LAUNCH must be the last instruction', /end of the Kubefile/);
  throwsAt('FROM k8s\nCMDS ["a"]\nRUN x', '2:1', 'CMDS must be the last instruction');
  throwsAt('FROM k8s\nCMDS ["a"]\nLAUNCH ["b"]', '2:1', 'CMDS must be the last instruction', /cannot both be used/);
  throwsAt('FROM k8s\nCMD a\nLAUNCH ["b"]', '3:1', 'LAUNCH and CMD cannot be used together', /CMD is deprecated/);
  throwsAt('FROM k8s\nLAUNCH ["b"]\nCMD a', '3:1', 'LAUNCH and CMD cannot be used together');
  assert.equal(all(parse('FROM k8s\nCMD a\nCMD b\nCMDS ["c"]')).length, 4, 'CMD may repeat, and goes with CMDS');
});

test('argument errors of each instruction', () => {
  throwsAt('FROM k8s\nCOPY onlyone', '2:1', 'COPY needs at least one source and a destination', /usage: COPY/);
  throwsAt('FROM k8s\nADD ["one"]', '2:1', 'ADD needs at least one source and a destination');
  throwsAt('FROM k8s\nRUN   ', '2:1', 'RUN needs a command');
  throwsAt('FROM k8s\nCMD', '2:1', 'CMD needs a command');
  throwsAt('FROM k8s\nCMDS ["a", "b"', '2:6', 'CMDS needs a JSON array of commands', /CMDS \["command"/);
  throwsAt('FROM k8s\nCMDS []', '2:6', 'CMDS needs at least one command');
  throwsAt('FROM k8s\nLAUNCH', '2:1', 'LAUNCH needs at least one app name');
  throwsAt('FROM k8s\nLAUNCH ["a", "../etc"]', '2:14', 'invalid app name "../etc"', /letters, digits/);
  throwsAt('FROM k8s\nAPP', '2:1', 'APP needs an app name');
  throwsAt('FROM k8s\nAPP nginx', '2:5', 'APP nginx needs at least one source');
  throwsAt('FROM k8s\nCNI calico calico.yaml', '2:12', 'CNI source "calico.yaml" must start with local://, http:// or https://', /usage: CNI <name> local:\/\//);
  throwsAt('FROM k8s\nAPP my/app local://x', '2:5', 'invalid app name "my/app"');
  throwsAt('FROM k8s\nAPPCMDS nginx kubectl apply -f x', '2:15', 'APPCMDS needs a JSON array of commands', 'usage: APPCMDS <name> ["command", ...]');
  throwsAt('FROM k8s\nAPPCMDS nginx []', '2:15', 'APPCMDS needs at least one command');
  throwsAt('FROM k8s\nAPPCMDS', '2:1', 'APPCMDS needs an app name');
  throwsAt('FROM k8s\nAPPENV nginx', '2:8', 'APPENV nginx needs at least one <key>=<value>');
  throwsAt('FROM k8s\nAPPENV nginx a=1 oops', '2:18', 'expected <key>=<value>, found "oops"');
  throwsAt('FROM k8s\nENV a=1 b', '2:9', 'expected <key>=<value>, found "b"');
  throwsAt('FROM k8s\nENV LONELY', '2:5', 'ENV LONELY needs a value', /usage: ENV/);
  throwsAt('FROM k8s\nLABEL =v', '2:7', 'empty key in "=v"');
  throwsAt('FROM k8s\nENV', '2:1', 'ENV needs at least one <key>=<value>');
  throwsAt('FROM k8s\nKUBEVERSION', '2:1', 'KUBEVERSION needs a version');
  throwsAt('FROM k8s\nKUBEVERSION v1.22 v1.23', '2:19', 'unexpected "v1.23": KUBEVERSION takes one version');
  throwsAt('FROM k8s\nMAINTAINER  ', '2:1', 'MAINTAINER needs a name');
  throwsAt('FROM k8s\nARG', '2:1', 'ARG needs a name');
  throwsAt('FROM k8s\nARG ok bad-name=1', '2:8', 'invalid ARG name "bad-name"');
});

test('an unterminated quote is an error at the quote', () => {
  throwsAt('FROM k8s\nENV a="x y', '2:7', 'unterminated quote "', /close it with "/);
  throwsAt("FROM k8s\nCOPY 'a b", '2:6', "unterminated quote '");
});

test('heredocs are rejected', () => {
  throwsAt('FROM k8s\nRUN <<EOF\necho hi\nEOF\nCOPY a b', '2:1', 'heredocs (<<EOF) are not supported in a Kubefile');
});

test('# escape=` makes backtick the escape character; words come out in backslash syntax', () => {
  const kubefile = parse('# escape=`\nFROM k8s\nENV P=C:\\dir Q=a`$B R="x`"y\\z" S="one``two`n"\nRUN dir `\n  C:\\\nCOPY a `\n  b');
  const [env, run, copy] = kubefile.stages[0]!.instructions;
  assert.deepEqual(fields(env), {
    kind: 'ENV',
    pairs: [
      { key: 'P', value: 'C:\\\\dir' },
      { key: 'Q', value: 'a\\$B' },
      { key: 'R', value: '"x\\"y\\\\z"' },
      { key: 'S', value: '"one`two`n"' },
    ],
  });
  const pos = env!.pos;
  const values = (env as EnvInstruction).pairs.map((p) => p.value);
  assert.deepEqual(values.map((value) => expandWord(value, () => 'unused', pos)), ['C:\\dir', 'a$B', 'x"y\\z', 'one`two`n']);
  assert.deepEqual(fields(run), { kind: 'RUN', form: 'shell', args: ['dir   C:\\'] }, 'a backslash does not continue the line');
  assert.deepEqual(fields(copy), { kind: 'COPY', sources: ['a'], dest: 'b' });
});

test('an invalid escape directive is an error', () => {
  throwsAt('# escape=x\nFROM k8s', '1:10', 'invalid escape directive "x"', 'use # escape=\\ or # escape=`');
});

test('did-you-mean uses the edit distance', () => {
  assert.equal(editDistance('COPPY', 'COPY'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('', 'ABC'), 3);
  assert.equal(closest('CMSD', ['CMD', 'CMDS'], 2), 'CMD', 'the nearest');
  assert.equal(closest('AB', ['AC', 'AD'], 2), 'AC', 'the first of equally near candidates');
  assert.equal(closest('XYZZY', ['CMD', 'CMDS'], 2), undefined);
});
