"""The Slack adapter: slack-bolt in Socket Mode or HTTP mode, the Web API through the outbox."""

from adapters.slack.adapter import SlackAdapter
from adapters.slack.app import SlackIngress, create_app
from adapters.slack.runtime import SlackRuntime, connect

__all__ = ["SlackAdapter", "SlackIngress", "SlackRuntime", "connect", "create_app"]
