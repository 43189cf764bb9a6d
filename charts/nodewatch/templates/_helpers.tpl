{{/* The chart's name, and the release's full name (63 characters at most). */}}
{{- define "nodewatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "nodewatch.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "nodewatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nodewatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "nodewatch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "nodewatch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "nodewatch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nodewatch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "nodewatch.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Whether nodewatch listens beyond loopback: only with a token. */}}
{{- define "nodewatch.exposed" -}}
{{- if .Values.auth.existingSecret }}true{{ end }}
{{- end }}

{{/*
GOMEMLIMIT in bytes: goMemLimit as given, or 90% of the memory limit, or
nothing ("off", or no limit). The limit is read as a Kubernetes quantity with a
binary or decimal suffix, or plain bytes.
*/}}
{{- define "nodewatch.goMemLimit" -}}
{{- $v := toString .Values.goMemLimit }}
{{- if eq $v "off" }}
{{- else if $v }}
{{- $v }}
{{- else }}
{{- $limit := toString (dig "limits" "memory" "" (.Values.resources | default dict)) }}
{{- if $limit }}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "K" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "" 1 }}
{{- $m := regexFind "^[0-9]+" $limit }}
{{- $unit := trimPrefix $m $limit }}
{{- if or (not $m) (not (hasKey $units $unit)) }}
{{- fail (printf "resources.limits.memory %q: want an integer with Ki, Mi, Gi, Ti, K, M, G or T (or set goMemLimit)" $limit) }}
{{- end }}
{{- div (mul (atoi $m) (get $units $unit) 9) 10 }}
{{- end }}
{{- end }}
{{- end }}
