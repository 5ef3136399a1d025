{{/*
ksplugins.name is the chart's name, or nameOverride.
*/}}
{{- define "ksplugins.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
ksplugins.fullname names the release's objects: <release>-ksplugins, or the
release name alone when it already holds the chart's name. Kubernetes names
of these kinds are at most 63 characters.
*/}}
{{- define "ksplugins.fullname" -}}
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

{{- define "ksplugins.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ksplugins.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ksplugins.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ksplugins.labels" -}}
helm.sh/chart: {{ include "ksplugins.chart" . }}
{{ include "ksplugins.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ksplugins.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ksplugins.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ksplugins.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
ksplugins.database is true when PostgreSQL is configured.
*/}}
{{- define "ksplugins.database" -}}
{{- if or .Values.database.existingSecret .Values.database.url }}true{{ end }}
{{- end }}

{{/*
ksplugins.validate fails the render on combinations that cannot work, with
what to change. It renders nothing otherwise.
*/}}
{{- define "ksplugins.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not (include "ksplugins.database" .)) }}
{{- fail (printf "replicaCount is %d but no database is configured: the default SQLite store serves one replica only. Set database.existingSecret (or database.url) to a PostgreSQL URL, or replicaCount=1." (int .Values.replicaCount)) }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) .Values.persistence.enabled }}
{{- fail (printf "replicaCount is %d with persistence.enabled: the replicas of a Deployment would share one claim and its build folders. Set persistence.enabled=false; the state is in PostgreSQL and each replica keeps its caches in its own emptyDir." (int .Values.replicaCount)) }}
{{- end }}
{{- end }}
