import type { ServiceSchema } from "moleculer";
import type { DbServiceSettings } from "moleculer-db";
import DbMixin from "../mixins/db.mixin";

/**
 * The movies store: moleculer-db's find/count/list/get/create/update/remove on the adapter
 * `DB_URI` selects. Validation and events live in `pilot`; only `pilot` calls this service.
 */
const DbService: ServiceSchema<DbServiceSettings> = {
	name: "db",
	mixins: [
		DbMixin("movies", DataTypes => ({
			id: { type: DataTypes.STRING(36), primaryKey: true, defaultValue: DataTypes.UUIDV4 },
			title: { type: DataTypes.STRING(200), allowNull: false },
			year: DataTypes.INTEGER,
			director: DataTypes.STRING(200),
			genres: DataTypes.JSONB,
			// ISO-8601 strings, as on NeDB and in responses
			createdAt: DataTypes.STRING(30),
			updatedAt: DataTypes.STRING(30)
		}))
	],
	settings: {
		idField: "id",
		fields: ["id", "title", "year", "director", "genres", "createdAt", "updatedAt"],
		pageSize: 10,
		maxPageSize: 100
	}
};

export default DbService;
