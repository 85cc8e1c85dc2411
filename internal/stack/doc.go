// Package stack holds no code: its tests check the AWS SAM template
// (template.yaml at the repository root) as goformation parses it, property by
// property; that the dashboard and the alarms watch only metrics the code
// emits or AWS publishes for the stack's resources; and that docs/stack.md
// lists every parameter and output.
package stack
