/**
 * Which events go to a destination (docs/delivery-formats.md, "Event filter"). Each criterion is
 * a list of exact values of one field of the event; an empty or absent list says nothing.
 *
 * - `include`: an event is delivered only if, for every non-empty list, its field is in the list
 *   (an event without the field is not);
 * - `exclude`: an event is not delivered if, for any non-empty list, its field is in the list.
 *
 * Events filtered out still move the cursor past them: they are never delivered later.
 */
export interface EventFilterCriteria {
  /** UAM `action`, e.g. QUERY, LOGIN. */
  actions?: string[];
  /** UAM `actionStatus`, e.g. SUCCESS, FAILURE. */
  actionStatuses?: string[];
  /** UAM `targetType`, e.g. DATASOURCE. */
  targetTypes?: string[];
  /** UAM `auditPayload.type`, e.g. DatabricksQueryAuditPayload. */
  auditPayloadTypes?: string[];
}

export interface EventFilter {
  include?: EventFilterCriteria;
  exclude?: EventFilterCriteria;
}

/** A filter as given (GraphQL, the CLI): any list or criterion may also be null. */
export interface EventFilterInputShape {
  include?: { [K in keyof EventFilterCriteria]?: EventFilterCriteria[K] | null } | null;
  exclude?: { [K in keyof EventFilterCriteria]?: EventFilterCriteria[K] | null } | null;
}

export const EVENT_FILTER_FIELDS = ['actions', 'actionStatuses', 'targetTypes', 'auditPayloadTypes'] as const;

/** The filter as stored: empty lists and criteria dropped; null when nothing is left (every event goes). */
export function normaliseEventFilter(filter: EventFilterInputShape | null | undefined): EventFilter | null {
  if (!filter) return null;
  const criteria = (side: EventFilterInputShape['include']): EventFilterCriteria | undefined => {
    if (!side) return undefined;
    const kept = Object.fromEntries(EVENT_FILTER_FIELDS.filter((field) => (side[field]?.length ?? 0) > 0).map((field) => [field, [...new Set(side[field])]]));
    return Object.keys(kept).length > 0 ? kept : undefined;
  };
  const include = criteria(filter.include);
  const exclude = criteria(filter.exclude);
  if (!include && !exclude) return null;
  return { ...(include ? { include } : {}), ...(exclude ? { exclude } : {}) };
}
