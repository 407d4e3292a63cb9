/*
 * options.c
 *		Parsing of the output plugin's options, table-driven.
 *
 * Every option is checked in the startup callback, before a single change is
 * decoded: an unknown name, a repeated name or a bad value is an ERROR that
 * names the option and says what it accepts.  Nothing about the slot changes,
 * so the same slot can be read again with corrected options.
 */
#include "cdc_plugin.h"

#include <stddef.h>

#include "commands/defrem.h"
#include "nodes/parsenodes.h"

#include "cdc_glob.h"
#include "cdc_optlist.h"

/* What the options parse into before they become a CdcOptions. */
typedef struct ParsedOptions
{
	List	   *entities;
	List	   *exclude_entities;
	uint8		operations;
	List	   *messages;
	bool		transactions;
	bool		numeric_as_string;
	bool		only_local;
	bool		schema_changes;
} ParsedOptions;

typedef enum OptionKind
{
	OPTION_PATTERNS,			/* comma-separated glob patterns */
	OPTION_OPERATIONS,			/* comma-separated operation names */
	OPTION_BOOL
} OptionKind;

typedef struct OptionSpec
{
	const char *name;
	OptionKind	kind;
	size_t		offset;			/* of the field in ParsedOptions */
} OptionSpec;

static const OptionSpec option_table[] = {
	{"entities", OPTION_PATTERNS, offsetof(ParsedOptions, entities)},
	{"exclude_entities", OPTION_PATTERNS, offsetof(ParsedOptions, exclude_entities)},
	{"operations", OPTION_OPERATIONS, offsetof(ParsedOptions, operations)},
	{"messages", OPTION_PATTERNS, offsetof(ParsedOptions, messages)},
	{"transactions", OPTION_BOOL, offsetof(ParsedOptions, transactions)},
	{"numeric_as_string", OPTION_BOOL, offsetof(ParsedOptions, numeric_as_string)},
	{"only_local", OPTION_BOOL, offsetof(ParsedOptions, only_local)},
	{"schema_changes", OPTION_BOOL, offsetof(ParsedOptions, schema_changes)},
};

#define N_OPTIONS lengthof(option_table)
#define VALID_OPTIONS "entities, exclude_entities, operations, messages, transactions, numeric_as_string, only_local, schema_changes"

/* Reject a pattern the matcher cannot read, naming the option it came from. */
void
CdcCheckPattern(const char *option, const char *pattern)
{
	if (!cdc_glob_is_valid(pattern, strlen(pattern)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid pattern \"%s\" in cdc_ext option \"%s\"",
						pattern, option),
				 errhint("A pattern is a non-empty glob: \"*\" matches any text, \"?\" one character, and \"\\\" makes the next character literal.")));
}

static void
bad_value(const OptionSpec *spec, const char *value, const char *accepted)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for cdc_ext option \"%s\": \"%s\"",
					spec->name, value),
			 errhint("%s", accepted)));
}

/* Split a comma-separated value into its items; an empty item is an error. */
static List *
split_list(const OptionSpec *spec, const char *value, const char *accepted)
{
	List	   *items = NIL;
	size_t		len = strlen(value);
	size_t		pos = 0,
				start,
				ilen;

	while (cdc_optlist_next(value, len, &pos, &start, &ilen))
	{
		if (ilen == 0)
			bad_value(spec, value, accepted);
		items = lappend(items, pnstrdup(value + start, ilen));
	}
	if (items == NIL)
		bad_value(spec, value, accepted);
	return items;
}

static void
parse_one(const OptionSpec *spec, DefElem *elem, ParsedOptions *parsed)
{
	void	   *field = (char *) parsed + spec->offset;
	const char *value = elem->arg ? strVal(elem->arg) : NULL;

	switch (spec->kind)
	{
		case OPTION_BOOL:
			{
				bool		b;

				/* a bare option (pg_recvlogical -o name) means true */
				if (value == NULL)
					b = true;
				else if (!cdc_parse_bool(value, &b))
					bad_value(spec, value, "Use a boolean: true or false.");
				*(bool *) field = b;
				break;
			}
		case OPTION_PATTERNS:
			{
				const char *accepted = "Give a comma-separated list of glob patterns, such as \"public.orders,audit_*\".";
				List	   *patterns;
				ListCell   *lc;

				if (value == NULL)
					bad_value(spec, "", accepted);
				patterns = split_list(spec, value, accepted);
				foreach(lc, patterns)
					CdcCheckPattern(spec->name, lfirst(lc));
				*(List **) field = patterns;
				break;
			}
		case OPTION_OPERATIONS:
			{
				const char *accepted = "Give a comma-separated list of: insert, update, delete, truncate, schema.";
				uint8		mask = 0;
				ListCell   *lc;

				if (value == NULL)
					bad_value(spec, "", accepted);
				foreach(lc, split_list(spec, value, accepted))
				{
					int			op = CdcParseOperation(lfirst(lc));

					if (op == 0)
						bad_value(spec, value, accepted);
					mask |= op;
				}
				*(uint8 *) field = mask;
				break;
			}
	}
}

/*
 * Parse the plugin options (a list of DefElem) into opts.  Raises the error
 * for the first bad option it meets.
 */
void
CdcParseOptions(List *defels, CdcOptions *opts)
{
	ParsedOptions parsed = {0};
	bool		seen[N_OPTIONS] = {0};
	CdcFilter  *filter;
	ListCell   *lc;

	parsed.operations = CDC_OP_ALL;

	foreach(lc, defels)
	{
		DefElem    *elem = lfirst(lc);
		int			i;

		for (i = 0; i < (int) N_OPTIONS; i++)
			if (strcmp(elem->defname, option_table[i].name) == 0)
				break;
		if (i == (int) N_OPTIONS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized cdc_ext option \"%s\"", elem->defname),
					 errhint("Valid options are: %s.", VALID_OPTIONS)));
		if (seen[i])
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("cdc_ext option \"%s\" specified more than once",
							elem->defname),
					 errhint("Give each option at most once.")));
		seen[i] = true;
		parse_one(&option_table[i], elem, &parsed);
	}

	filter = palloc0(sizeof(CdcFilter));
	filter->entities = parsed.entities;
	filter->exclude_entities = parsed.exclude_entities;
	filter->operations = parsed.operations;
	/* schema_changes: schema entries too, unless operations says otherwise */
	if (parsed.schema_changes && !seen[2])	/* option_table[2]: operations */
		filter->operations |= CDC_OP_SCHEMA;

	opts->filters = list_make1(filter);
	opts->messages = parsed.messages;
	opts->transactions = parsed.transactions;
	opts->numeric_as_string = parsed.numeric_as_string;
	opts->only_local = parsed.only_local;
	opts->schema_changes = parsed.schema_changes;
}
