import { UserError } from '../util/errors.js';

/**
 * A registry failure; `transient` when trying again (later, or anew) may succeed;
 * `credentialsRejected` when the registry refused the user name and password it was given
 * (what `login` reports in its own words).
 */
export class RegistryError extends UserError {
  constructor(message: string, hint: string, readonly transient: boolean, readonly credentialsRejected = false) {
    super(message, { hint });
    this.name = 'RegistryError';
  }
}
