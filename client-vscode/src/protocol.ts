/**
 * Shapes the server side produces, declared once for the extension. So far: the model catalog
 * as `hearth models list --json` prints it (the model picker reads it; never the human text).
 * No vscode import.
 */

export interface CatalogModel {
  name: string;
  description: string;
  format: string;
  licence: string;
  embedded: boolean;
  /** Where the file is on this machine; null when it has not been downloaded. */
  path: string | null;
}

export interface ModelListing {
  models: CatalogModel[];
}

/** The listing, or an empty one when the output is not what `--json` prints. */
export function parseModelListing(stdout: string): ModelListing {
  try {
    const parsed: unknown = JSON.parse(stdout);
    const models = (parsed as { models?: unknown }).models;
    if (!Array.isArray(models)) {
      return { models: [] };
    }
    return {
      models: models.filter(
        (m): m is CatalogModel => typeof m === "object" && m !== null && typeof (m as CatalogModel).name === "string",
      ),
    };
  } catch {
    return { models: [] };
  }
}

export interface ModelPick {
  label: string;
  description: string;
  value: string;
}

/** Quick-pick entries: the embedded default (value ""), then every other catalog model. */
export function modelPicks(listing: ModelListing): ModelPick[] {
  return listing.models
    .filter((m) => !m.embedded)
    .map((m) => ({
      label: m.name,
      description: m.path === null ? `${m.description} (hearth models pull ${m.name})` : m.description,
      value: m.name,
    }));
}
