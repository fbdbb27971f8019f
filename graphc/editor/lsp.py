"""`graphc lsp`: a language server for graphc specs over stdio (pygls).

Diagnostics (YAML, schema, references, shapes: graphc's own checks) are published as the user
types, debounced; hover shows a layer's output shape, parameters and FLOPs and an op's docs;
completion offers ops, attributes, `in:` references, blocks and `$params`; go to definition
jumps from an `in:` reference or a block/model use. See docs/editors.md.
"""

from __future__ import annotations

import asyncio
from typing import Any

from graphc.editor import analysis as A
from urllib.parse import unquote, urlparse
from graphc.version import __version__

DEBOUNCE_S = 0.3


def _uri_file(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def make_server() -> Any:
    """The pygls server with graphc's features registered."""
    from lsprotocol import types as T
    from pygls.lsp.server import LanguageServer


    server = LanguageServer("graphc", __version__)
    analyses: dict[str, A.Analysis] = {}
    pending: dict[str, asyncio.Task] = {}

    def publish(uri: str) -> None:
        doc = server.workspace.get_text_document(uri)
        result = A.analyze(doc.source, _uri_file(uri))
        previous = analyses.get(uri)
        if result.root is None and previous is not None:  # keep the last readable parse for completion
            result.root, result.layers = previous.root, previous.layers
        analyses[uri] = result
        diagnostics = [T.Diagnostic(range=T.Range(T.Position(d.line, d.col), T.Position(d.end_line, d.end_col)),
                                    message=d.message, source=d.source, severity=T.DiagnosticSeverity.Error)
                       for d in result.diagnostics]
        server.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics,
                                                                            version=doc.version))

    async def later(uri: str) -> None:
        await asyncio.sleep(DEBOUNCE_S)
        pending.pop(uri, None)
        publish(uri)

    def current(uri: str) -> A.Analysis:
        doc = server.workspace.get_text_document(uri)
        known = analyses.get(uri)
        if known is None or known.text != doc.source:
            fresh = A.analyze(doc.source, _uri_file(uri))
            if fresh.root is None and known is not None:
                fresh.root, fresh.layers = known.root, known.layers
            fresh.text = doc.source
            known = analyses[uri] = fresh
        return known

    @server.feature(T.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls, params: T.DidOpenTextDocumentParams) -> None:
        publish(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls, params: T.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        task = pending.pop(uri, None)
        if task is not None:
            task.cancel()
        pending[uri] = asyncio.ensure_future(later(uri))

    @server.feature(T.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls, params: T.DidSaveTextDocumentParams) -> None:
        publish(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: T.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        analyses.pop(uri, None)
        server.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(T.TEXT_DOCUMENT_HOVER)
    def on_hover(ls, params: T.HoverParams) -> T.Hover | None:
        text = A.hover(current(params.text_document.uri), params.position.line, params.position.character)
        if text is None:
            return None
        return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=text))

    kinds = {"op": T.CompletionItemKind.Function, "block": T.CompletionItemKind.Module,
             "model": T.CompletionItemKind.Class, "attribute": T.CompletionItemKind.Property,
             "reference": T.CompletionItemKind.Reference, "param": T.CompletionItemKind.Variable}

    @server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=["$", "-", "{", " ", ","]))
    def on_completion(ls, params: T.CompletionParams) -> T.CompletionList:
        items = A.completions(current(params.text_document.uri), params.position.line, params.position.character)
        return T.CompletionList(is_incomplete=False, items=[
            T.CompletionItem(label=label, kind=kinds.get(kind), detail=detail) for label, kind, detail in items])

    @server.feature(T.TEXT_DOCUMENT_DEFINITION)
    def on_definition(ls, params: T.DefinitionParams) -> T.Location | None:
        loc = A.definition(current(params.text_document.uri), params.position.line, params.position.character)
        if loc is None:
            return None
        pos = T.Position(loc.line - 1, loc.col - 1)
        return T.Location(uri=params.text_document.uri, range=T.Range(pos, pos))

    return server
