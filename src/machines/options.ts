/**
 * Option maps are plain records so they serialise as JSON objects, but their keys come
 * from request parameters: a key like `__proto__` must stay an ordinary own property.
 */
import type { OptionMap } from './types.js';

export function getOption(options: OptionMap, key: string): string | undefined {
  return Object.hasOwn(options, key) ? options[key] : undefined;
}

export function setOption<T>(target: Record<string, T>, key: string, value: NoInfer<T>): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

export function copyOptions(options: OptionMap): OptionMap {
  const copy: OptionMap = {};
  for (const [key, value] of Object.entries(options)) setOption(copy, key, value);
  return copy;
}
