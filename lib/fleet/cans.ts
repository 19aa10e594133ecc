/**
 * The can registry's shapes: a can as `GET /cans/:canId` answers it (its registration, or the
 * defaults for a can known only from its reports) and as a FIWARE NGSI-LD `WasteContainer`
 * entity, so FIWARE tools can read it.
 */
import type { Can, CanInput, CanLevel } from "../contracts";
import { printable } from "../contracts";
import type { CanDoc, LevelDoc } from "../ingest/apply";

/** A can id in an action's params (the path's `:canId`): the same bound as the store's column. */
export const CAN_ID_PARAM = printable({ type: "string", min: 1, max: 64 });

/** The fields `PUT /cans/:canId` takes (fastest-validator); null clears a field. */
export const canInputParams = {
	canId: CAN_ID_PARAM,
	name: printable({ type: "string", min: 1, max: 100, optional: true, nullable: true }),
	location: {
		type: "object",
		optional: true,
		nullable: true,
		strict: true,
		props: { lat: { type: "number", min: -90, max: 90 }, lon: { type: "number", min: -180, max: 180 } }
	},
	capacityLitres: { type: "number", positive: true, max: 1_000_000, optional: true, nullable: true },
	wasteKind: printable({ type: "string", min: 1, max: 40, optional: true, nullable: true }),
	fullThreshold: { type: "number", min: 1, max: 100, optional: true, nullable: true },
	$$strict: true
} as const;

type Nullable<T> = { [K in keyof T]?: T[K] | null };

/** The stored registration for a `PUT` body: the fields sent, nulls included (they clear). */
export function toCanDoc(canId: string, input: Nullable<CanInput>): CanDoc {
	const doc: Record<string, unknown> = { _id: canId };
	for (const field of ["name", "capacityLitres", "wasteKind", "fullThreshold"] as const) if (input[field] !== undefined) doc[field] = input[field];
	if (input.location !== undefined) Object.assign(doc, { lat: input.location?.lat ?? null, lon: input.location?.lon ?? null });
	return doc as unknown as CanDoc;
}

export function toCan(canId: string, doc: CanDoc | null | undefined, level: LevelDoc | null | undefined, defaultThreshold: number): Can {
	return {
		canId,
		name: doc?.name ?? null,
		location: doc?.lat != null && doc.lon != null ? { lat: doc.lat, lon: doc.lon } : null,
		capacityLitres: doc?.capacityLitres ?? null,
		wasteKind: doc?.wasteKind ?? null,
		fullThreshold: doc?.fullThreshold ?? defaultThreshold,
		registered: doc != null,
		lastEmptiedAt: level?.lastEmptiedAt ?? null
	};
}

export const NGSI_LD_CONTEXT = [
	"https://raw.githubusercontent.com/smart-data-models/dataModel.WasteManagement/master/context.jsonld",
	"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
];

const property = (value: unknown, observedAt?: string) => ({ type: "Property", value, ...(observedAt ? { observedAt } : {}) });
const dateTime = (iso: string) => property({ "@type": "DateTime", "@value": iso });

/**
 * The can as an NGSI-LD `WasteContainer` (smart-data-models WasteManagement): `fillingLevel` is
 * 0–1, `location` GeoJSON (lon, lat), `nextActuationDeadline` when it will be full, `status` its state.
 */
export function toWasteContainer(can: Can, level: CanLevel | null): Record<string, unknown> {
	return {
		id: `urn:ngsi-ld:WasteContainer:${can.canId}`,
		type: "WasteContainer",
		...(can.name ? { name: property(can.name) } : {}),
		...(can.location ? { location: { type: "GeoProperty", value: { type: "Point", coordinates: [can.location.lon, can.location.lat] } } } : {}),
		...(can.capacityLitres != null ? { maximumLoad: property(can.capacityLitres) } : {}),
		...(can.wasteKind ? { storedWasteKind: property([can.wasteKind]) } : {}),
		...(level ? { fillingLevel: property(Math.round(level.level * 100) / 10_000, level.reportedAt), status: property(level.state, level.reportedAt) } : {}),
		...(level?.fullAt ? { nextActuationDeadline: dateTime(level.fullAt) } : {}),
		...(can.lastEmptiedAt ? { dateLastEmptying: dateTime(can.lastEmptiedAt) } : {}),
		"@context": NGSI_LD_CONTEXT
	};
}
