import { Serializers } from "moleculer";

/** A message body that is not JSON: handed to the handler (which dead-letters it) instead of thrown. */
export class Unparseable {
	constructor(readonly text: string) {}
}

/**
 * The channels' JSON serializer, lenient on the way in. The adapters deserialize before calling
 * the handler, and a body that fails to parse counts as a handler failure: retried and dropped,
 * with no word of why. External producers can send anything, so a bad body becomes an
 * `Unparseable` that ingest rejects with a reason.
 */
export class LenientJSONSerializer extends Serializers.JSON {
	override deserialize(buf: Buffer): unknown {
		try {
			return super.deserialize(buf);
		} catch {
			return new Unparseable(buf.toString("utf8").slice(0, 500));
		}
	}
}
