/**
 * The embedded default ATProto network: a real PLC directory and PDS from @atproto/dev-env,
 * in-process on loopback. Used by the demo, the benchmark and the tests. @atproto/dev-env is a
 * development dependency, so it is imported lazily and never bundled into the plugin.
 */
import type { HandleResolver } from '../identity/handle.js';
import { signImage, type SignedImage } from '../publish/sign-image.js';
import type { RegistryClient } from '../registry/client.js';

export interface ManifestRecordFields {
  repository: string;
  digest: string;
  mediaType?: string;
  schemaVersion?: number;
  createdAt?: string;
  [extra: string]: unknown;
}

export interface WrittenRecord {
  uri: string;
  cid: string;
  rkey: string;
  commitCid: string;
  rev: string;
}

export interface Publisher {
  did: string;
  handle: string;
  password: string;
  putManifestRecord(fields: ManifestRecordFields, collection?: string): Promise<WrittenRecord>;
  deleteRecord(rkey: string, collection?: string): Promise<void>;
  /** `atproto-verifier sign` as this publisher, on this network, through `client`. */
  sign(image: string, client: RegistryClient, options?: { embedProof?: boolean }): Promise<SignedImage>;
}

export interface AtprotoNetwork {
  pdsUrl: string;
  plcUrl: string;
  /** Resolves `.test` handles through the PDS's own resolver (they have no DNS). */
  handleResolver: HandleResolver;
  createPublisher(name: string): Promise<Publisher>;
  /** Points the DID document's #atproto key at a fresh key the PDS does not hold. */
  rotateSigningKeyAway(did: string): Promise<string>;
  /** Stops the PDS only (the PLC directory stays up): the "PDS down" fault. */
  stopPds(): Promise<void>;
  close(): Promise<void>;
}

export async function startAtprotoNetwork(): Promise<AtprotoNetwork> {
  const [{ TestNetworkNoAppView }, { AtpAgent }, { Secp256k1Keypair }, plc] = await Promise.all([
    import('@atproto/dev-env'),
    import('@atproto/api'),
    import('@atproto/crypto'),
    import('@did-plc/lib'),
  ]);
  const network = await TestNetworkNoAppView.create({});
  const pdsUrl = network.pds.url;
  const plcUrl = network.plc.url;
  const plcClient = new plc.Client(plcUrl);
  const anon = new AtpAgent({ service: pdsUrl });

  const handleResolver: HandleResolver = async (handle) => {
    try {
      const res = await anon.com.atproto.identity.resolveHandle({ handle });
      return res.data.did;
    } catch {
      return undefined;
    }
  };

  async function createPublisher(name: string): Promise<Publisher> {
    const handle = `${name}.test`;
    const password = `pw-${name}-${Math.random().toString(36).slice(2)}`;
    const agent = new AtpAgent({ service: pdsUrl });
    await agent.createAccount({ handle, email: `${name}@example.test`, password });
    const did = agent.session!.did;
    return {
      did,
      handle,
      password,
      async putManifestRecord(fields, collection = 'io.atcr.manifest') {
        const record = {
          $type: collection,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          schemaVersion: 2,
          createdAt: new Date().toISOString(),
          ...fields,
        };
        const res = await agent.com.atproto.repo.createRecord({ repo: did, collection, record, validate: false });
        return {
          uri: res.data.uri,
          cid: res.data.cid,
          rkey: res.data.uri.split('/').pop()!,
          commitCid: res.data.commit!.cid,
          rev: res.data.commit!.rev,
        };
      },
      async deleteRecord(rkey, collection = 'io.atcr.manifest') {
        await agent.com.atproto.repo.deleteRecord({ repo: did, collection, rkey });
      },
      sign(image, client, options = {}) {
        return signImage({
          image,
          identity: did,
          password,
          pds: pdsUrl,
          plcDirectory: plcUrl,
          // .test handles have no DNS: the PDS resolves them, so the handle is verified and written.
          handleResolverUrl: pdsUrl,
          allowPrivateNetwork: true,
          embedProof: options.embedProof === true,
          registryFor: () => client,
        });
      },
    };
  }

  let pdsStopped = false;

  async function rotateSigningKeyAway(did: string): Promise<string> {
    const fresh = await Secp256k1Keypair.create();
    await plcClient.updateAtprotoKey(did, network.pds.ctx.plcRotationKey, fresh.did());
    return fresh.did();
  }

  return {
    pdsUrl,
    plcUrl,
    handleResolver,
    createPublisher,
    rotateSigningKeyAway,
    async stopPds() {
      if (pdsStopped) return;
      pdsStopped = true;
      await network.pds.close();
    },
    close: () => (pdsStopped ? network.plc.close() : network.close()),
  };
}
