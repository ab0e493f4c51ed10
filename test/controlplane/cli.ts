// Command line for the test control plane (wired as `npm run testenv -- <command>`):
//   up <dir> [--node]
//                 build if needed, start in the background, write <dir>/kubeconfig and
//                 <dir>/operator.kubeconfig, return once the API server is ready; with --node also
//                 one real node (containerd, kubelet, kube-scheduler, kube-proxy), once it is Ready
//   down <dir>    stop every process `up` started (by pid) and remove its data
//   status <dir>  print what runs from <dir>
//   image <dir>   build the operator image from the working tree (the Dockerfile, by buildah) and
//                 the test application image, and load both into the node of <dir> (up --node)
//   images        only build (or find) the images `image` loads (CI's separate step)
//   build [--node]  only build (or find) the cached binaries and print their paths
import { ensureBinaries, ensureNodeBinaries } from './build.ts';
import { APP_IMAGE, ImageBuilder, OPERATOR_IMAGE, importImage } from '../images/build.ts';
import { ControlPlane } from './start.ts';

const USAGE =
  'usage: node test/controlplane/cli.ts up <dir> [--node] | image <dir> | images | down <dir> | status <dir> | build [--node]';

const log = (message: string) => process.stderr.write(`[testenv] ${message}\n`);

async function main(argv: string[]): Promise<number> {
  const node = argv.includes('--node');
  const [command, dir] = argv.filter((arg) => arg !== '--node');
  switch (command) {
    case 'build': {
      const started = Date.now();
      const binaries = node ? await ensureNodeBinaries({ log }) : await ensureBinaries({ log });
      process.stdout.write(JSON.stringify(binaries, null, 2) + '\n');
      log(`binaries ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return 0;
    }
    case 'up': {
      if (!dir) break;
      const binaries = await ensureBinaries({ log });
      const started = Date.now();
      const info = await new ControlPlane({ dir, log, detached: true, binaries, node }).start();
      log(`up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      process.stdout.write(
        [
          `export KUBECONFIG=${info.kubeconfig}`,
          `# operator identity (${info.operatorUser}, group ${info.operatorGroup}): ${info.operatorKubeconfig}`,
          `# API server ${info.apiServerUrl}, kubernetes ${info.versions.kubernetes}, etcd ${info.versions.etcd}`,
          ...(info.node
            ? [
                `# node ${info.node.name} (${info.node.address}); its containerd: ctr --address ${info.node.containerdSocket} -n k8s.io`,
              ]
            : []),
          `# stop with: node test/controlplane/cli.ts down ${info.dir}`,
          '',
        ].join('\n'),
      );
      return 0;
    }
    case 'images': {
      const started = Date.now();
      const builder = new ImageBuilder({ log });
      process.stdout.write(JSON.stringify([await builder.operator(), await builder.app()], null, 2) + '\n');
      log(`images ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return 0;
    }
    case 'image': {
      if (!dir) break;
      const info = await ControlPlane.readInfo(dir);
      if (!info?.node) {
        log(`no node runs from ${dir}: start one with up ${dir} --node`);
        return 1;
      }
      const started = Date.now();
      const builder = new ImageBuilder({ log });
      for (const archive of [await builder.operator(), await builder.app()]) {
        await importImage(info.node.containerdSocket, archive);
      }
      log(
        `${OPERATOR_IMAGE} and ${APP_IMAGE} loaded into ${info.node.name} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      return 0;
    }
    case 'down': {
      if (!dir) break;
      const info = await ControlPlane.readInfo(dir);
      if (!info) {
        log(`nothing started from ${dir}`);
        return 0;
      }
      await new ControlPlane({ dir, log }).stop();
      log(`stopped and removed ${info.dir}`);
      return 0;
    }
    case 'status': {
      if (!dir) break;
      const info = await ControlPlane.readInfo(dir);
      process.stdout.write(info ? JSON.stringify(info, null, 2) + '\n' : `nothing started from ${dir}\n`);
      return info ? 0 : 1;
    }
    default:
      break;
  }
  process.stderr.write(USAGE + '\n');
  return 2;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`[testenv] ${(error as Error).message}\n`);
  process.exitCode = 1;
}
