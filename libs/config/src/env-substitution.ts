export interface SubstitutionProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export interface SubstitutionResult {
  readonly value: unknown;
  readonly problems: readonly SubstitutionProblem[];
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// `$${` is a literal `${`; a `${` that never closes is an error rather than silently literal.
const REFERENCE = /\$\$\{|\$\{([^}]*)\}|\$\{/g;

/**
 * Expands `${VAR}` in every string value of a parsed YAML document (keys are left alone), before
 * validation, so secrets can stay out of the file: `password: ${ALPINE_PASSWORD}`.
 * Write `$${` for a literal `${`.
 */
export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv): SubstitutionResult {
  const problems: SubstitutionProblem[] = [];
  const result = substitute(value, env, [], problems);
  return { value: result, problems };
}

function substitute(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: (string | number)[],
  problems: SubstitutionProblem[],
): unknown {
  if (typeof value === 'string') {
    return substituteString(value, env, path, problems);
  }
  if (Array.isArray(value)) {
    return value.map((item, index) => substitute(item, env, [...path, index], problems));
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        substitute(item, env, [...path, key], problems),
      ]),
    );
  }
  return value;
}

function substituteString(
  value: string,
  env: NodeJS.ProcessEnv,
  path: (string | number)[],
  problems: SubstitutionProblem[],
): string {
  return value.replace(REFERENCE, (match: string, name: string | undefined) => {
    if (match === '$${') {
      return '${';
    }
    if (name === undefined) {
      problems.push({ path, message: 'unterminated ${ (write $${ for a literal ${)' });
      return match;
    }
    if (!VARIABLE_NAME.test(name)) {
      problems.push({ path, message: `invalid environment variable name in ${match}` });
      return match;
    }
    const replacement = env[name];
    if (replacement === undefined) {
      problems.push({ path, message: `environment variable ${name} is not set` });
      return match;
    }
    return replacement;
  });
}
