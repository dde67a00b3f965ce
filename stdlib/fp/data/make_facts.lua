-- Writes facts.json, fp's own small fact set in CounterFact's format (true facts only; the
-- target_new of each entry is another object of the same relation, the counterfactual).
--   FP_STDLIB=$PWD/stdlib fp run stdlib/fp/data/make_facts.lua
local json = require "fp.json"

local relations = {
  { id = "P36", prompt = "The capital of {} is", paraphrases = { "{}'s capital city is", "The capital city of {} is" },
    facts = {
      { "France", "Paris" }, { "Germany", "Berlin" }, { "Italy", "Rome" }, { "Spain", "Madrid" },
      { "Portugal", "Lisbon" }, { "Russia", "Moscow" }, { "Japan", "Tokyo" }, { "China", "Beijing" },
      { "Egypt", "Cairo" }, { "Greece", "Athens" }, { "Poland", "Warsaw" }, { "Sweden", "Stockholm" },
      { "Norway", "Oslo" }, { "Finland", "Helsinki" }, { "Denmark", "Copenhagen" }, { "Austria", "Vienna" },
      { "Hungary", "Budapest" }, { "Ireland", "Dublin" }, { "Belgium", "Brussels" }, { "Canada", "Ottawa" },
      { "Australia", "Canberra" }, { "Argentina", "Buenos Aires" }, { "Peru", "Lima" }, { "Chile", "Santiago" },
      { "Kenya", "Nairobi" }, { "Nigeria", "Abuja" }, { "Thailand", "Bangkok" }, { "Vietnam", "Hanoi" },
      { "South Korea", "Seoul" }, { "India", "New Delhi" }, { "Iran", "Tehran" }, { "Turkey", "Ankara" },
      { "Romania", "Bucharest" }, { "Cuba", "Havana" }, { "Switzerland", "Bern" }, { "the Philippines", "Manila" },
      { "Saudi Arabia", "Riyadh" }, { "Pakistan", "Islamabad" }, { "Iraq", "Baghdad" }, { "Morocco", "Rabat" },
      { "Venezuela", "Caracas" }, { "the Czech Republic", "Prague" },
    } },
  { id = "P17", prompt = "{} is located in the country of", paraphrases = { "{} is a city in the country of", "The city of {} is in the country of" },
    facts = {
      { "Paris", "France" }, { "Lyon", "France" }, { "Marseille", "France" }, { "Berlin", "Germany" },
      { "Munich", "Germany" }, { "Hamburg", "Germany" }, { "Rome", "Italy" }, { "Milan", "Italy" },
      { "Naples", "Italy" }, { "Madrid", "Spain" }, { "Barcelona", "Spain" }, { "Seville", "Spain" },
      { "Lisbon", "Portugal" }, { "Porto", "Portugal" }, { "Moscow", "Russia" }, { "Tokyo", "Japan" },
      { "Osaka", "Japan" }, { "Kyoto", "Japan" }, { "Beijing", "China" }, { "Shanghai", "China" },
      { "Toronto", "Canada" }, { "Montreal", "Canada" }, { "Vancouver", "Canada" }, { "Sydney", "Australia" },
      { "Melbourne", "Australia" }, { "Mumbai", "India" }, { "Cairo", "Egypt" }, { "Istanbul", "Turkey" },
      { "Athens", "Greece" }, { "Vienna", "Austria" }, { "Warsaw", "Poland" }, { "Krakow", "Poland" },
      { "Stockholm", "Sweden" }, { "Oslo", "Norway" }, { "Dublin", "Ireland" }, { "Bangkok", "Thailand" },
      { "Rio de Janeiro", "Brazil" }, { "Buenos Aires", "Argentina" }, { "Lima", "Peru" }, { "Havana", "Cuba" },
      { "Nairobi", "Kenya" }, { "Lagos", "Nigeria" },
    } },
  { id = "P30", prompt = "{} is located in the continent of", paraphrases = { "{} is part of the continent of", "{} belongs to the continent of" },
    facts = {
      { "France", "Europe" }, { "Germany", "Europe" }, { "Italy", "Europe" }, { "Spain", "Europe" },
      { "Poland", "Europe" }, { "Sweden", "Europe" }, { "Norway", "Europe" }, { "Japan", "Asia" },
      { "China", "Asia" }, { "India", "Asia" }, { "Thailand", "Asia" }, { "Vietnam", "Asia" },
      { "Mongolia", "Asia" }, { "Egypt", "Africa" }, { "Kenya", "Africa" }, { "Nigeria", "Africa" },
      { "Ghana", "Africa" }, { "Morocco", "Africa" }, { "Ethiopia", "Africa" }, { "Brazil", "South America" },
      { "Argentina", "South America" }, { "Peru", "South America" }, { "Chile", "South America" },
      { "Colombia", "South America" }, { "Canada", "North America" }, { "Mexico", "North America" },
      { "Paris", "Europe" }, { "Tokyo", "Asia" }, { "Cairo", "Africa" }, { "Lima", "South America" },
      { "Toronto", "North America" }, { "Berlin", "Europe" },
    } },
  { id = "P37", prompt = "The official language of {} is", paraphrases = { "In {}, the official language is", "People in {} speak" },
    facts = {
      { "France", "French" }, { "Germany", "German" }, { "Italy", "Italian" }, { "Spain", "Spanish" },
      { "Portugal", "Portuguese" }, { "Brazil", "Portuguese" }, { "Mexico", "Spanish" }, { "Argentina", "Spanish" },
      { "Russia", "Russian" }, { "Japan", "Japanese" }, { "Greece", "Greek" }, { "Poland", "Polish" },
      { "the Netherlands", "Dutch" }, { "Sweden", "Swedish" }, { "Norway", "Norwegian" }, { "Denmark", "Danish" },
      { "Turkey", "Turkish" }, { "Egypt", "Arabic" }, { "Saudi Arabia", "Arabic" }, { "Iran", "Persian" },
      { "Hungary", "Hungarian" }, { "Ukraine", "Ukrainian" }, { "South Korea", "Korean" }, { "Vietnam", "Vietnamese" },
      { "Thailand", "Thai" }, { "Israel", "Hebrew" }, { "Austria", "German" }, { "Romania", "Romanian" },
      { "Chile", "Spanish" }, { "Colombia", "Spanish" }, { "Peru", "Spanish" }, { "Bulgaria", "Bulgarian" },
    } },
  { id = "P38", prompt = "The currency of {} is the", paraphrases = { "In {}, people pay with the", "The official currency of {} is the" },
    facts = {
      { "Japan", "yen" }, { "the United Kingdom", "pound" }, { "India", "rupee" }, { "Mexico", "peso" },
      { "Brazil", "real" }, { "Russia", "ruble" }, { "South Korea", "won" }, { "China", "yuan" },
      { "Switzerland", "franc" }, { "Sweden", "krona" }, { "Turkey", "lira" }, { "South Africa", "rand" },
      { "Poland", "zloty" }, { "Germany", "euro" }, { "France", "euro" }, { "Italy", "euro" }, { "Spain", "euro" },
      { "the United States", "dollar" }, { "Canada", "dollar" }, { "Australia", "dollar" }, { "Thailand", "baht" },
      { "Vietnam", "dong" }, { "Israel", "shekel" }, { "Hungary", "forint" }, { "Nigeria", "naira" },
      { "Argentina", "peso" }, { "Denmark", "krone" }, { "Norway", "krone" },
    } },
}

local out = {}
for _, rel in ipairs(relations) do
  -- the distinct objects of this relation, for counterfactual targets
  local objects, seen = {}, {}
  for _, f in ipairs(rel.facts) do
    if not seen[f[2]] then seen[f[2]] = true; objects[#objects + 1] = f[2] end
  end
  for i, f in ipairs(rel.facts) do
    local subject, target = f[1], f[2]
    -- target_new: the next different object in the list (deterministic)
    local new
    for k = 1, #objects do
      local cand = objects[((i + k - 1) % #objects) + 1]
      if cand ~= target then new = cand; break end
    end
    local paraphrases = {}
    for _, p in ipairs(rel.paraphrases) do paraphrases[#paraphrases + 1] = (p:gsub("{}", subject)) end
    -- neighborhood: other subjects with the same true object; attribute: subjects whose true object is target_new
    local neighborhood, attribute = {}, {}
    for _, g in ipairs(rel.facts) do
      if g[1] ~= subject and g[2] == target and #neighborhood < 3 then
        neighborhood[#neighborhood + 1] = (rel.prompt:gsub("{}", g[1]))
      end
      if g[2] == new and #attribute < 3 then attribute[#attribute + 1] = (rel.prompt:gsub("{}", g[1])) end
    end
    out[#out + 1] = {
      case_id = #out,
      requested_rewrite = {
        prompt = rel.prompt, subject = subject, relation_id = rel.id,
        target_true = { str = target }, target_new = { str = new },
      },
      paraphrase_prompts = paraphrases,
      neighborhood_prompts = neighborhood,
      attribute_prompts = attribute,
    }
  end
end

local path = (package.searchpath("fp.datasets", package.path) or ""):gsub("datasets%.lua$", "data/facts.json")
local f = assert(io.open(path, "w"))
f:write(json.encode(out, { indent = "  " }), "\n")
f:close()
print(#out .. " facts written to " .. path)
