import { createServer, type Server, type Socket } from 'node:net';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import type { AtprotoNetwork, Publisher } from '../../src/devnet/atproto-network.js';
import { pushSampleImage, type PushedImage } from '../../src/devnet/sample-image.js';
import { attachSignature } from '../../src/publish/attach-signature.js';
import type { RegistryClient } from '../../src/registry/client.js';
import { OCI_MANIFEST_MEDIA_TYPE } from '../../src/registry/oci.js';

/** Pushes a sample image and signs it as `publisher` (the real PDS record and referrer). */
export async function pushAndSign(client: RegistryClient, publisher: Publisher, repository: string, content: string): Promise<PushedImage> {
  const image = await pushSampleImage(client, client.registry, repository, 'v1', content);
  await publisher.sign(`${client.registry}/${repository}@${image.digest}`, client);
  return image;
}

/** A PDS that accepts connections and never answers: the key that hangs. */
export interface SilentPds {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections still open. */
  readonly open: number;
  close(): void;
}

export async function startSilentPds(): Promise<SilentPds> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    // Read (and drop) what arrives, or a paused socket never sees the client hang up.
    socket.resume();
    socket.on('error', () => undefined);
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    get connections() {
      return connections;
    },
    get open() {
      return sockets.size;
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/**
 * A DID registered in the real PLC directory whose #atproto_pds is the silent PDS, and an image
 * "signed" by it: verifying it hangs at the proof fetch, provided the trust policy trusts `did`
 * (an untrusted claim is refused before any request).
 */
export async function imageSignedBySilentPds(
  net: AtprotoNetwork,
  client: RegistryClient,
  silent: SilentPds,
  repository: string,
): Promise<PushedImage & { did: string }> {
  const [{ Client }, { Secp256k1Keypair }] = await Promise.all([import('@did-plc/lib'), import('@atproto/crypto')]);
  const rotation = await Secp256k1Keypair.create();
  const signing = await Secp256k1Keypair.create();
  const did = await new Client(net.plcUrl).createDid({
    signingKey: signing.did(),
    handle: `${repository.split('/')[0]}.test`,
    pds: `http://127.0.0.1:${silent.port}`,
    rotationKeys: [rotation.did()],
    signer: rotation,
  });
  const image = await pushSampleImage(client, client.registry, repository, 'v1', `signed by a PDS that never answers (${repository})`);
  const payload = buildSignaturePayload({ subjectDigest: image.digest, did, recordUri: `at://${did}/io.atcr.manifest/3l4t7k2x2ra2c` });
  const subject = { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: image.digest, size: image.size };
  await attachSignature(client, repository, subject, new TextEncoder().encode(JSON.stringify(payload)));
  return { ...image, did };
}
