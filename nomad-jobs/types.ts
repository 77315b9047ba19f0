// The slice of Nomad's job API (JSON, as `POST /v1/jobs` takes it) that Aide's jobs use.
// Field names are Nomad's own; the tests check every built job against Nomad's OpenAPI
// description (shared/nomad/openapi.yaml), not against these types.
// Durations are nanoseconds, as in Nomad's API.

export interface NomadJobSpec {
  Job: Job;
}

export interface Job {
  ID: string;
  Name: string;
  Type: "service" | "batch" | "system";
  Datacenters: string[];
  Priority?: number;
  /** Registered but not run (Nomad's "stopped" job). */
  Stop?: boolean;
  Meta?: Record<string, string>;
  Constraints?: Constraint[];
  Update?: UpdateStrategy;
  TaskGroups: TaskGroup[];
}

export interface Constraint {
  LTarget: string;
  Operand: string;
  RTarget: string;
}

export interface Affinity extends Constraint {
  /** -100..100: how strongly the scheduler prefers (or avoids) a match. */
  Weight: number;
}

export interface UpdateStrategy {
  MaxParallel?: number;
  HealthCheck?: "checks" | "task_states" | "manual";
  MinHealthyTime?: number;
  HealthyDeadline?: number;
  ProgressDeadline?: number;
  AutoRevert?: boolean;
}

export interface TaskGroup {
  Name: string;
  Count: number;
  Constraints?: Constraint[];
  /** Soft preferences among the nodes the constraints allow. */
  Affinities?: Affinity[];
  Networks?: NetworkResource[];
  Services?: Service[];
  RestartPolicy?: RestartPolicy;
  ReschedulePolicy?: ReschedulePolicy;
  EphemeralDisk?: { SizeMB: number };
  Meta?: Record<string, string>;
  Tasks: Task[];
}

export interface NetworkResource {
  Mode?: string;
  DynamicPorts?: Port[];
  ReservedPorts?: Port[];
}

export interface Port {
  Label: string;
  Value?: number;
  HostNetwork?: string;
}

export interface Service {
  Name: string;
  PortLabel: string;
  Provider: "nomad";
  Tags?: string[];
  Meta?: Record<string, string>;
  Checks?: ServiceCheck[];
}

export interface ServiceCheck {
  Name: string;
  Type: "http" | "tcp";
  Path?: string;
  /** "https" for a page served with the household's certificate (which Nomad does not trust: TLSSkipVerify). */
  Protocol?: "http" | "https";
  TLSSkipVerify?: boolean;
  PortLabel?: string;
  Interval: number;
  Timeout: number;
  /** (IgnoreWarnings is left out: Nomad's own service checks never warn, hashicorp/nomad#14553.) */
  CheckRestart?: { Limit: number; Grace: number };
}

export interface RestartPolicy {
  Attempts: number;
  Interval: number;
  Delay: number;
  Mode: "delay" | "fail";
}

export interface ReschedulePolicy {
  Attempts?: number;
  Interval?: number;
  Delay?: number;
  DelayFunction?: "constant" | "exponential" | "fibonacci";
  MaxDelay?: number;
  Unlimited?: boolean;
}

export interface Task {
  Name: string;
  Driver: "raw_exec";
  /** The unprivileged user the task runs as (the client refuses root: infra/scripts/nomad.sh). */
  User?: string;
  Config: { command: string; args: string[] };
  Env?: Record<string, string>;
  Templates?: Template[];
  Resources: Resources;
  /** Task-level services: their check_restart restarts this task (group-level ones are
   * unreliable at that, hashicorp/nomad#9176). */
  Services?: Service[];
  Lifecycle?: { Hook: "prestart" | "poststart" | "poststop"; Sidecar: boolean };
  KillTimeout?: number;
  KillSignal?: string;
  LogConfig?: { MaxFiles: number; MaxFileSizeMB: number };
  Meta?: Record<string, string>;
}

export interface Template {
  EmbeddedTmpl: string;
  DestPath: string;
  Envvars?: boolean;
  ChangeMode: "restart" | "noop" | "signal";
  ChangeSignal?: string;
  Splay?: number;
}

export interface Resources {
  /** MHz of CPU the scheduler reserves. */
  CPU: number;
  MemoryMB: number;
}
