"""Every hand-written word list, in one place.

Grammar (the regexes that put these words in context) stays with the code that reads it; the
words themselves are here, each list with what it is for and where its held-out gain is (or will
be) measured. Order matters wherever a list becomes a regex alternation or a numbered mapping:
keep it when editing. Nothing here imports anything, so every module may import it.
"""

from __future__ import annotations

# -- the document itself ---------------------------------------------------------------------
# One list, three uses that differ only in the words added to it:
#   DOC_NOUNS        the nouns alone ("tell me about the article": question._CUE);
#   DOC_REFERENCES   + "it", "this" ("what is this called?": naming._DOC_FIELDS);
#   DOC_WORDS        + "articles", "it", "this", "that" (words an overview question may hold
#                    besides its cue: question._FILLER).

# Nouns that name the document a question is about.
# gain: docs/rules.md#doc-nouns (summary intent: 0 on held-out sets, 1 article answer changed; 2026-12-06)
DOC_NOUNS = ("article", "story", "piece", "post", "document", "report", "page", "text")
# What "the headline of ___" / "what is ___ called" may name: the document's nouns, or "it"/"this".
# gain: docs/rules.md#doc-references (document field feature: +0.010 mean held-out accuracy; 2026-12-03)
DOC_REFERENCES = DOC_NOUNS + ("it", "this")
# The words that name the document itself rather than something it reports on.
# gain: docs/rules.md#doc-words (summary intent: 0 on held-out sets, 1 article answer changed; 2026-12-06)
DOC_WORDS = frozenset(DOC_NOUNS + ("articles", "it", "this", "that"))

# -- the document's metadata (naming._DOC_FIELDS; answered by about.py) -----------------------
# Who wrote a document: "Who is the author?", "the article's byline".
# gain: docs/rules.md#metadata-nouns (no content question of 6,094 taken for one; 2026-12-06)
AUTHOR_NOUNS = ("author", "writer", "byline", "reporter", "journalist", "columnist")
# Where a document was published: "What outlet published this?", "the source of the article".
# A regex alternation: keep "news site" before "site".
# gain: docs/rules.md#metadata-nouns (no content question of 6,094 taken for one; 2026-12-06)
OUTLET_NOUNS = ("source", "outlet", "publisher", "publication", "news site", "website", "site", "newspaper",
                "magazine", "blog")
# Where to read a document: "the link to the article", "What's the URL?".
# gain: docs/rules.md#metadata-nouns (no content question of 6,094 taken for one; 2026-12-06)
LINK_NOUNS = ("link", "url", "web address", "permalink")
# How a document came out, said of "it" as well as of "the article": "When was it published?".
# Past participles only ("When does it post results?" is content); "released", "came out" are
# said of products too, so naming reads them after a document noun only.
# gain: docs/rules.md#metadata-nouns (no content question of 6,094 taken for one; 2026-12-06)
PUBLISH_VERBS = ("published", "written", "posted", "dated")

# -- stop words ------------------------------------------------------------------------------
# Words that say how a question is asked, not what it is about: added to bm25s's English stop
# words (text.stopwords), so BM25, lexical overlap and the verifier all ignore them. (It names
# the document with a list of its own: "article", "document", "text", "passage".)
# gain: docs/rules.md#question-words (0 on held-out sets, 7 MTRAG answers changed; 2026-12-06)
QUESTION_WORDS = frozenset({"article", "document", "text", "passage", "author", "say", "says", "said",
                            "tell", "mention", "mentioned", "mentions", "according", "please", "explain",
                            "describe", "described", "describes", "explained", "explains", "tells", "told",
                            "also", "would", "could", "much", "many", "kind", "sort"})

# -- words that lean on what came before -----------------------------------------------------
# Words that stand for a subject named elsewhere: a sentence opening with one leans on what came
# before it ("They are engineered for…"). The one list: the answerer, the encoder's context, the
# summary (summary.py) and the follow-up test (followup.py) build on it.
# gain: docs/rules.md#pronouns (follow-ups: 0 article test, -0.018 MTRAG follow-ups; chunking: not measured; 2026-12-06)
PRONOUNS = ("it", "its", "they", "their", "he", "she", "his", "her")
# Words that point back at a whole statement ("This specialization results in…").
# gain: docs/rules.md#demonstratives (follow-ups: 0 article test, -0.018 MTRAG follow-ups; chunking: not measured; 2026-12-06)
DEMONSTRATIVES = ("this", "these", "those", "that", "such")
# What else makes chunking embed a sentence with the one before it ("Them…", "There…"). Changing
# it changes every context, so every sentence id and vector.
# gain: docs/rules.md#context-leans (not measured: changes the index; 2026-12-06)
CONTEXT_LEANS = ("them", "there")
# What else makes a summary sentence lean on the one before (summary.py; "it's" is already
# covered by "it", and kept as written).
# gain: docs/rules.md#summary-leans (0 on held-out sets, never fires; 2026-12-06)
SUMMARY_LEANS = ("it's", "it’s", "them")
# Connectives that may open a sentence before its leaning pronoun ("Furthermore, it…": summary.py).
# gain: docs/rules.md#connectives (0 on held-out sets, never fires; 2026-12-06)
CONNECTIVES = ("furthermore", "moreover", "additionally", "also", "however", "but", "and", "so", "thus",
               "therefore", "still", "yet", "similarly", "likewise", "in addition", "as a result")

# -- follow-ups (followup.py) ----------------------------------------------------------------
# Words that lean only on a conversation, added to PRONOUNS and DEMONSTRATIVES for the follow-up
# test: object forms ("him", "them"), "there", and "one", "same", "the former".
# gain: docs/rules.md#leans-on-turn (0 article test, -0.018 MTRAG follow-ups grounded; 2026-12-06)
LEANS_ON_TURN = ("it's", "them", "theirs", "him", "hers", "there", "one", "ones", "same", "former", "latter")
# "The deal" leans on an earlier turn when the question names nothing of its own.
# gain: docs/rules.md#definite-nouns (0 on held-out sets, never fires; 2026-12-06)
DEFINITE_NOUNS = ("company", "partnership", "deal", "firm", "alliance")
# Openers of an elliptical follow-up ("And why?", "What about Microsoft?"). A regex alternation
# tried in order: keep "and" before "and why".
# gain: docs/rules.md#elliptical-openers (0 on held-out sets, 2 MTRAG answers changed; 2026-12-06)
ELLIPTICAL_OPENERS = ("and", "also", "but", "so", "then", "what about", "how about", "why", "how come", "and why")
# Ordinal words pointing into a list just quoted ("And the third?"); -1 is the last item.
# gain: docs/rules.md#ordinals (0 on held-out sets, never fires; 2026-12-06)
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
            "eighth": 8, "ninth": 9, "tenth": 10, "last": -1, "final": -1}
# What a list's item is called when it is not called by the list's own noun ("the second advantage").
# gain: docs/rules.md#item-nouns (0 on held-out sets, never fires; 2026-12-06)
ITEM_NOUNS = frozenset({"one", "ones", "point", "points", "item", "items", "thing", "option", "step", "part",
                        "bullet", "entry", "example", "reason", "answer", "quote", "sentence", "bit", "mentioned"})

# -- what a question asks for (question.py) --------------------------------------------------
# Nouns that name several things at once: a question asking for them wants a whole list.
# gain: docs/rules.md#list-nouns (+0.027 article test key facts, +0.071 conv. turns; 0 MTRAG; 2026-12-06)
LIST_NOUNS = ("advantages", "benefits", "lessons", "takeaways", "reasons", "ways", "features", "factors",
              "steps", "examples", "types", "kinds", "challenges", "risks", "problems", "issues", "points",
              "tips", "principles", "goals", "components", "parts", "elements", "strengths", "weaknesses",
              "implications", "consequences", "effects", "uses", "applications", "options", "pros", "cons")
# How many sentences an overview asks for, in words ("a two-sentence summary"). A regex
# alternation in this order after the digits: keep it.
# gain: docs/rules.md#counts (0 on held-out sets, never fires; 2026-12-06)
COUNTS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "single": 1, "couple": 2, "few": 3}
# What an overview's length is counted in ("three bullet points"); each may take a plural "s".
# gain: docs/rules.md#summary-units (0 on held-out sets, never fires; 2026-12-06)
SUMMARY_UNITS = ("sentence", "line", "point", "bullet", "bullet point", "takeaway", "idea")
# Words an overview question may hold besides its cue and the document's name: question and
# function words, politeness, and how long the summary should be. Any other word is a topic.
# gain: docs/rules.md#filler-words (summary intent: 0 on held-out sets, 1 article answer changed; 2026-12-06)
FILLER_WORDS = """
a an the of in on for to from with by at as about into up out is are was were be been being am do does did
done has have had can could would will should shall may might must please pls kindly just quick quickly
briefly brief short shortly simple simply very really basically mainly mostly overall general
generally whole entire all everything thing things stuff what whats which how who why where when s
me us you your i we my our give gives tell tells show get got let lets provide want need like love
so ok okay hey hi hello then now again and or but also too some any its this that these those there
here say says said talk talks talking discuss discusses cover covers describe describes explain explains
summary summaries summarize summarise summarized summarised summarizing summarising summarization
summarisation sum sums summed overview gist recap rundown synopsis outline abstract tl dr tldr nutshell
boil boils boiled down main key major central core point points takeaway takeaways idea ideas message
messages theme themes argument arguments sentence sentences line lines bullet bullets word words
paragraph form version few couple single one two three four five six seven eight nine ten
"""

# -- what a sentence holds (features.py) -----------------------------------------------------
# Number words: a sentence holding one has a number for a "how many" question.
# gain: docs/rules.md#answer-types (ranker feature: +0.015 mean held-out accuracy; 2026-12-03)
NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "hundred",
                "thousand", "million", "billion", "trillion", "dozen", "half", "twice")
# Words of time: a sentence holding one has an answer for a "when" question. Regex alternatives
# ("years?": the plural optional).
# gain: docs/rules.md#answer-types (ranker feature: +0.015 mean held-out accuracy; 2026-12-03)
TIME_WORDS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
              "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday",
              "saturday", "sunday", "century", "decade", "years?", "months?", "weeks?", "days?", "ago",
              "since", "until", "today", "yesterday", "recently", "later", "earlier", "season", "era",
              "period")
# Words for a person (matched in lower case only): an answer for a "who" question.
# gain: docs/rules.md#answer-types (ranker feature: +0.015 mean held-out accuracy; 2026-12-03)
PERSON_WORDS = ("he", "she", "his", "her", "founder", "ceo", "president", "author", "king", "queen", "actor",
                "actress", "singer", "player", "director", "leader", "chief")

# -- question clean-up (normalize.py) --------------------------------------------------------
# Common chat and SMS spellings, by whole lower-case word ("W" and "U.S." stay as they are);
# "" drops the word.
# gain: docs/rules.md#chat-speak (+0.027 article test key facts, +0.200 paraphrases; 0 MTRAG; 2026-12-06)
CHAT_SPEAK = {
    "u": "you", "ur": "your", "r": "are", "wat": "what", "wut": "what", "wht": "what", "whr": "where",
    "wen": "when", "hw": "how", "frm": "from", "w": "with", "w/": "with", "w/o": "without",
    "abt": "about", "bc": "because", "cuz": "because", "coz": "because", "b/c": "because",
    "enuf": "enough", "tho": "though", "thru": "through", "pls": "please", "plz": "please",
    "ppl": "people", "govt": "government", "info": "information", "b4": "before", "2day": "today",
    "gonna": "going to", "wanna": "want to", "gotta": "have to", "dont": "don't", "doesnt": "doesn't",
    "didnt": "didn't", "cant": "can't", "wont": "won't", "isnt": "isn't", "arent": "aren't",
    "whats": "what's", "hows": "how's", "whys": "why's", "wats": "what's", "im": "I'm",
    "lol": "", "idk": "", "btw": "", "tbh": "", "imo": "",
}
