{{/* The chart's name, at most 63 characters (a DNS label). */}}
{{- define "tve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Objects' name: the release's, holding the chart's name unless it already does. */}}
{{- define "tve.fullname" -}}
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

{{- define "tve.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{/* Every object's labels. helmLabels: false leaves out the two that say Helm manages it (the kustomize base). */}}
{{- define "tve.labels" -}}
{{ include "tve.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
{{- if .Values.helmLabels }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "tve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tve.image" -}}
{{- $repo := .Values.image.repository }}
{{- with (.Values.global).imageRegistry | default .Values.image.registry }}
{{- $repo = printf "%s/%s" . $repo }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The relabelings every scrape of the exporter gets: the job name the shipped
alert rules select, and where every node is a vantage point (a DaemonSet),
the node's name as `vantage`, or else the fixed `vantage` value when set.
*/}}
{{- define "tve.scrapeRelabelings" -}}
- targetLabel: job
  replacement: {{ .job }}
  action: replace
{{- if eq .root.Values.kind "DaemonSet" }}
- sourceLabels: [__meta_kubernetes_pod_node_name]
  targetLabel: vantage
  action: replace
{{- else if .root.Values.vantage }}
- targetLabel: vantage
  replacement: {{ .root.Values.vantage }}
  action: replace
{{- end }}
{{- end }}
