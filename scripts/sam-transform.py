#!/usr/bin/env python3
"""Transform an AWS SAM template into plain CloudFormation, as CloudFormation's
AWS::Serverless-2016-10-31 transform does, with aws-sam-translator (the library
behind that transform).

  sam-transform.py TEMPLATE [--region R] [--param Key=Value ...] [--code Function=s3://bucket/key ...]

--code replaces the CodeUri of an AWS::Serverless::Function, as `sam package`
does after uploading its built code. The transformed template is written to
stdout as JSON. A transform error is printed to stderr and exits 1.

  sam-transform.py TEMPLATE --list-functions

prints, as JSON, the functions with local code to build and package:
[{"LogicalId": ..., "CodeUri": ..., "BuildMethod": ...}].

Used by the deploy rehearsal (internal/deploycheck, `make deploy-check`).
"""
import argparse
import json
import os
import sys

import boto3
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicyLookup:
    """Managed policy names outside the map bundled with aws-sam-translator
    would need IAM; the rehearsal has none, so it says so."""

    def load(self):
        raise SystemExit("sam-transform: the template names an AWS managed policy unknown to aws-sam-translator's bundled map")


def pair(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"want Key=Value, got {text!r}")
    return key, value


def local_functions(template):
    """The functions whose CodeUri is a local path, with their build method."""
    global_uri = (template.get("Globals", {}).get("Function", {}) or {}).get("CodeUri")
    out = []
    for logical_id, res in (template.get("Resources") or {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties") or {}
        if props.get("PackageType") == "Image" or "InlineCode" in props:
            continue
        uri = props.get("CodeUri", global_uri)
        if not isinstance(uri, str) or uri.startswith("s3://"):
            continue
        out.append({
            "LogicalId": logical_id,
            "CodeUri": uri,
            "BuildMethod": (res.get("Metadata") or {}).get("BuildMethod", ""),
        })
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("template")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--param", type=pair, action="append", default=[], help="parameter value Key=Value")
    ap.add_argument("--code", type=pair, action="append", default=[], help="Function=s3://bucket/key")
    ap.add_argument("--list-functions", action="store_true")
    args = ap.parse_args()

    with open(args.template, encoding="utf-8") as f:
        template = yaml_parse(f.read())

    if args.list_functions:
        json.dump(local_functions(template), sys.stdout, indent=2)
        print()
        return 0

    resources = template.get("Resources") or {}
    for logical_id, uri in args.code:
        res = resources.get(logical_id)
        if not res or res.get("Type") != "AWS::Serverless::Function":
            print(f"sam-transform: --code {logical_id}: no AWS::Serverless::Function of that name", file=sys.stderr)
            return 2
        res.setdefault("Properties", {})["CodeUri"] = uri

    # The transform needs only a region; botocore takes an empty AWS_PROFILE for a profile name.
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        if not os.environ.get(var):
            os.environ.pop(var, None)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=args.region))
    try:
        out = translator.translate(
            template,
            parameter_values=dict(args.param),
            get_managed_policy_map=NoManagedPolicyLookup().load,
        )
    except InvalidDocumentException as e:
        print("sam-transform: the SAM transform failed:", file=sys.stderr)
        for cause in e.causes:
            print(f"  {cause.message}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
