/**
 * The running configuration, as the stages see it: they read `config` (and the naming `rules` made
 * from it) at each use, never a copy taken at start, so a reload (SIGHUP, an edit of the config
 * file) changes what they do next. What of a reload applies is planned in ./reload.ts.
 */
import type { Logger } from '../log.js';
import { compileRules, type CompiledRules } from '../pipeline/naming.js';
import type { Config } from './parse.js';
import { planReload, type Reconfigurable } from './reload.js';

export interface LiveConfig extends Reconfigurable {
  /** The configuration now (a reload replaces it). */
  readonly config: Config;
  /** The naming rules of the configuration now (agent id, unit categories, ignore patterns). */
  readonly rules: CompiledRules;
}

/** The live configuration; a reload applies its live settings, and a new log level to `logger` at once. */
export function createLiveConfig(initial: Config, logger: Logger): LiveConfig {
  let config = initial;
  let rules = rulesOf(initial);
  return {
    get config() {
      return config;
    },
    get rules() {
      return rules;
    },
    reconfigure(next) {
      const plan = planReload(config, next);
      config = plan.config;
      rules = rulesOf(config);
      if (plan.applied.includes('logLevel')) logger.level = config.logLevel;
      return { applied: plan.applied, needRestart: plan.needRestart };
    },
  };
}

function rulesOf(config: Config): CompiledRules {
  return compileRules({ agentId: config.agentId, unitCategories: config.unitCategories, ignore: config.ignore });
}
