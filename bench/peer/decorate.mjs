/**
 * Nest's decorators applied by hand, as TypeScript's compiled `__decorate` would: the peer runs
 * with plain `node`, no build step, so no decorator syntax and no emitted design-time metadata
 * (constructor parameters name their token with `Inject`).
 */

/** Applies method decorators to `cls.prototype[method]`, the last one first, as the compiler does. */
export function decorateMethod(cls, method, ...decorators) {
	let descriptor = Object.getOwnPropertyDescriptor(cls.prototype, method);
	for (const decorator of decorators.reverse()) descriptor = decorator(cls.prototype, method, descriptor) ?? descriptor;
	Object.defineProperty(cls.prototype, method, descriptor);
}

/** Applies parameter decorators to constructor parameter `index` of `cls`. */
export function decorateParam(cls, index, ...decorators) {
	for (const decorator of decorators) decorator(cls, undefined, index);
}

/** Applies class decorators to `cls`, the last one first. */
export function decorateClass(cls, ...decorators) {
	for (const decorator of decorators.reverse()) decorator(cls);
}
