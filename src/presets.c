/* The header names and stage rules of each CRM's exports, as data. Each field lists its
 * aliases in priority order: the report-export label a user sees first, then the API or
 * Data Loader name, so one preset reads both kinds of export. Adding a CRM means adding
 * tables here; the loader never names a vendor. */
#include "kpipress/presets.h"

#include <string.h>

#define H(...) ((const char *const[]){__VA_ARGS__, NULL})
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- opportunities ------------------------------------------------------------------ */

/* Salesforce: opportunity report export labels, then API names (Opportunity object). */
static const kp_field_def sf_opps[] = {
    {"opp_id", KP_VT_TEXT, 0, H("Opportunity ID", "Id", "Opportunity 18 Digit ID"), NULL},
    {"name", KP_VT_TEXT, 0, H("Opportunity Name", "Name"), NULL},
    {"account", KP_VT_TEXT, 0, H("Account Name", "Account.Name", "AccountId", "Account ID"), NULL},
    {"owner", KP_VT_TEXT, 1,
     H("Opportunity Owner", "Owner Name", "Owner.Name", "OwnerId", "Owner ID",
       "Opportunity Owner ID"), NULL},
    {"stage", KP_VT_TEXT, 1, H("Stage", "StageName", "Stage Name"), NULL},
    {"amount", KP_VT_MONEY, 1, H("Amount", "Amount (converted)"), NULL},
    {"currency", KP_VT_TEXT, 0,
     H("Opportunity Currency", "CurrencyIsoCode", "Amount Currency"), NULL},
    {"probability", KP_VT_PERCENT, 0, H("Probability (%)", "Probability"), NULL},
    {"forecast_category", KP_VT_TEXT, 0,
     H("Forecast Category", "ForecastCategoryName", "ForecastCategory"), NULL},
    {"type", KP_VT_TEXT, 0, H("Type", "Opportunity Type"), NULL},
    {"lead_source", KP_VT_TEXT, 0, H("Lead Source", "LeadSource"), NULL},
    {"product", KP_VT_TEXT, 0, H("Product", "Product__c", "Product Name"), NULL},
    {"created_date", KP_VT_DATE, 0, H("Created Date", "CreatedDate"), NULL},
    {"close_date", KP_VT_DATE, 1, H("Close Date", "CloseDate"), NULL},
    {"is_closed", KP_VT_BOOL, 0, H("Closed", "IsClosed"), NULL},
    {"is_won", KP_VT_BOOL, 0, H("Won", "IsWon"), NULL},
    {"status", KP_VT_TEXT, 0, H("Status"), NULL},
};

/* HubSpot: deal export column labels, then CRM API property names. */
static const kp_field_def hs_opps[] = {
    {"opp_id", KP_VT_TEXT, 0, H("Record ID", "Deal ID", "hs_object_id", "dealId"), NULL},
    {"name", KP_VT_TEXT, 0, H("Deal Name", "dealname"), NULL},
    {"account", KP_VT_TEXT, 0,
     H("Associated Company", "Associated Company (Primary)", "Company name", "Company"), NULL},
    {"owner", KP_VT_TEXT, 1, H("Deal owner", "Deal Owner", "hubspot_owner_id", "Owner"), NULL},
    {"stage", KP_VT_TEXT, 1, H("Deal Stage", "dealstage"), NULL},
    {"amount", KP_VT_MONEY, 1, H("Amount", "amount", "Amount in company currency"), NULL},
    {"currency", KP_VT_TEXT, 0, H("Currency", "deal_currency_code"), NULL},
    {"probability", KP_VT_PERCENT, 0,
     H("Deal probability", "Deal Stage Probability", "hs_deal_stage_probability"), NULL},
    {"forecast_category", KP_VT_TEXT, 0, H("Forecast category", "hs_forecast_category"), NULL},
    {"type", KP_VT_TEXT, 0, H("Deal Type", "dealtype"), NULL},
    {"lead_source", KP_VT_TEXT, 0, H("Original Source Type", "Original Source", "hs_analytics_source"), NULL},
    {"product", KP_VT_TEXT, 0, H("Product", "Products"), NULL},
    {"created_date", KP_VT_DATE, 0, H("Create Date", "createdate"), NULL},
    {"close_date", KP_VT_DATE, 1, H("Close Date", "closedate"), NULL},
    {"is_closed", KP_VT_BOOL, 0, H("Is Closed", "Is closed", "hs_is_closed"), NULL},
    {"is_won", KP_VT_BOOL, 0, H("Is Closed Won", "hs_is_closed_won"), NULL},
    {"status", KP_VT_TEXT, 0, H("Deal Status"), NULL},
};

/* Pipedrive: deal export columns ("Deal - " prefixed), then the unprefixed names. */
static const kp_field_def pd_opps[] = {
    {"opp_id", KP_VT_TEXT, 0, H("Deal - ID", "ID"), NULL},
    {"name", KP_VT_TEXT, 0, H("Deal - Title", "Title"), NULL},
    {"account", KP_VT_TEXT, 0, H("Deal - Organization", "Organization"), NULL},
    {"owner", KP_VT_TEXT, 1, H("Deal - Owner", "Owner"), NULL},
    {"stage", KP_VT_TEXT, 1, H("Deal - Stage", "Stage"), NULL},
    {"amount", KP_VT_MONEY, 1, H("Deal - Value", "Value"), NULL},
    {"currency", KP_VT_TEXT, 0, H("Deal - Currency", "Currency"), NULL},
    {"probability", KP_VT_PERCENT, 0, H("Deal - Probability", "Probability"), NULL},
    {"forecast_category", KP_VT_TEXT, 0, H("Deal - Forecast category"), NULL},
    {"type", KP_VT_TEXT, 0, H("Deal - Type"), NULL},
    {"lead_source", KP_VT_TEXT, 0, H("Deal - Source channel", "Deal - Source origin"), NULL},
    {"product", KP_VT_TEXT, 0, H("Deal - Product name", "Product name"), NULL},
    {"created_date", KP_VT_DATE, 0, H("Deal - Deal created", "Deal created"), NULL},
    {"close_date", KP_VT_DATE, 1,
     H("Deal - Expected close date", "Expected close date", "Deal - Close time"), NULL},
    {"is_closed", KP_VT_BOOL, 0, H("Deal - Closed"), NULL},
    {"is_won", KP_VT_BOOL, 0, H("Deal - Won"), NULL},
    {"status", KP_VT_TEXT, 0, H("Deal - Status", "Status"), NULL},
    /* When a closed deal was won (lost): its close date, not the expected one. */
    {"won_time", KP_VT_DATE, 0, H("Deal - Won time", "Won time"), NULL},
    {"lost_time", KP_VT_DATE, 0, H("Deal - Lost time", "Lost time"), NULL},
};

/* generic: the canonical names themselves and their common spellings. */
static const kp_field_def gen_opps[] = {
    {"opp_id", KP_VT_TEXT, 0, H("opp_id", "opportunity_id", "deal_id", "id"), NULL},
    {"name", KP_VT_TEXT, 0, H("name", "opportunity_name", "deal_name", "title"), NULL},
    {"account", KP_VT_TEXT, 0, H("account", "account_name", "company", "organization"), NULL},
    {"owner", KP_VT_TEXT, 1, H("owner", "owner_id", "owner_name", "sales_rep", "rep_id"), NULL},
    {"stage", KP_VT_TEXT, 1, H("stage", "deal_stage"), NULL},
    {"amount", KP_VT_MONEY, 1, H("amount", "value", "deal_value"), NULL},
    {"currency", KP_VT_TEXT, 0, H("currency"), NULL},
    {"probability", KP_VT_PERCENT, 0, H("probability"), NULL},
    {"forecast_category", KP_VT_TEXT, 0, H("forecast_category"), NULL},
    {"type", KP_VT_TEXT, 0, H("type"), NULL},
    {"lead_source", KP_VT_TEXT, 0, H("lead_source", "source"), NULL},
    {"product", KP_VT_TEXT, 0, H("product"), NULL},
    {"created_date", KP_VT_DATE, 0, H("created_date", "create_date", "created"), NULL},
    {"close_date", KP_VT_DATE, 1, H("close_date", "closed_date"), NULL},
    {"is_closed", KP_VT_BOOL, 0, H("is_closed"), NULL},
    {"is_won", KP_VT_BOOL, 0, H("is_won"), NULL},
    {"status", KP_VT_TEXT, 0, H("status"), NULL},
    {"won_time", KP_VT_DATE, 0, H("won_time", "won_date"), NULL},
    {"lost_time", KP_VT_DATE, 0, H("lost_time", "lost_date"), NULL},
};

/* ---- reps and quotas: one table for all presets ------------------------------------
 * User and quota exports differ less between CRMs than deal exports, and their aliases
 * do not collide, so every preset accepts all of them. */

static const kp_field_def reps[] = {
    {"rep_id", KP_VT_TEXT, 1,
     H("User ID", "Id", "UserId", "rep_id", "user_id", "Owner ID", "Owner Id"), NULL},
    {"name", KP_VT_TEXT, 1, H("Full Name", "Name", "full_name", "rep_name", "Owner Name"), NULL},
    {"email", KP_VT_TEXT, 0, H("Email", "Email Address", "email"), NULL},
    {"team", KP_VT_TEXT, 0, H("Role", "UserRole.Name", "Team", "team"), NULL},
    {"region", KP_VT_TEXT, 0, H("Division", "Region", "region"), NULL},
    {"manager", KP_VT_TEXT, 0, H("Manager ID", "ManagerId", "manager_id", "Manager"), NULL},
    {"hire_date", KP_VT_DATE, 0, H("Start Date", "StartDate", "Hire Date", "hire_date"), NULL},
    {"active", KP_VT_BOOL, 0, H("Active", "IsActive", "active"), NULL},
};

static const kp_field_def quotas[] = {
    {"rep_id", KP_VT_TEXT, 1,
     H("Quota Owner ID", "QuotaOwnerId", "rep_id", "Owner ID", "User ID", "user_id"), NULL},
    {"period_start", KP_VT_DATE, 1,
     H("Start Date", "StartDate", "period_start", "start_date", "Month"), NULL},
    {"period_end", KP_VT_DATE, 0, H("End Date", "EndDate", "period_end", "end_date"), NULL},
    {"amount", KP_VT_MONEY, 1, H("Quota Amount", "QuotaAmount", "amount", "quota"), NULL},
};

/* ---- optional sources: one table each for all presets ------------------------------
 * Canonical names first, then Salesforce report labels and API names, then HubSpot's.
 * Money columns are stored as integer cents (column NAME_cents), like opportunities. */

static const kp_field_def accounts[] = {
    {"account_id", KP_VT_TEXT, 1, H("account_id", "Account ID", "Id", "Record ID"), NULL},
    {"name", KP_VT_TEXT, 1, H("name", "account_name", "Account Name", "Name", "Company name"),
     NULL},
    {"industry", KP_VT_TEXT, 0, H("industry", "Industry"), NULL},
    {"region", KP_VT_TEXT, 0,
     H("region", "Billing State/Province", "BillingState", "Country/Region", "Country"), NULL},
    {"owner", KP_VT_TEXT, 0,
     H("owner", "owner_id", "Account Owner", "OwnerId", "Company owner"), "owner_id"},
    {"employees", KP_VT_INT, 0, H("employees", "Employees", "NumberOfEmployees",
                                  "Number of Employees"), NULL},
    {"annual_revenue", KP_VT_MONEY, 0, H("annual_revenue", "Annual Revenue", "AnnualRevenue"),
     "annual_revenue_cents"},
    {"created_date", KP_VT_DATE, 0, H("created_date", "Created Date", "CreatedDate",
                                      "Create Date"), NULL},
};

static const kp_field_def activities[] = {
    {"activity_id", KP_VT_TEXT, 0, H("activity_id", "Activity ID", "Id", "Record ID"), NULL},
    {"rep", KP_VT_TEXT, 1,
     H("rep", "rep_id", "owner", "Assigned", "Assigned To", "OwnerId", "Activity assigned to"),
     "rep_id"},
    {"type", KP_VT_TEXT, 1,
     H("type", "activity_type", "Task Subtype", "TaskSubtype", "Type", "Activity type"), NULL},
    {"activity_date", KP_VT_DATE, 1,
     H("activity_date", "date", "Date", "ActivityDate", "Activity date"), NULL},
    {"minutes", KP_VT_INT, 0,
     H("minutes", "duration_minutes", "Duration (Minutes)", "DurationInMinutes"), NULL},
    {"selling", KP_VT_BOOL, 0, H("selling", "is_selling"), NULL},
    {"account", KP_VT_TEXT, 0, H("account", "Company/Account", "Account Name"), NULL},
    {"opp_id", KP_VT_TEXT, 0, H("opp_id", "Opportunity ID", "WhatId"), NULL},
};

static const kp_field_def leads[] = {
    {"lead_id", KP_VT_TEXT, 0, H("lead_id", "Lead ID", "Id", "Record ID"), NULL},
    {"created_date", KP_VT_DATE, 1, H("created_date", "Create Date", "Created Date",
                                      "CreatedDate"), NULL},
    {"converted_date", KP_VT_DATE, 0,
     H("converted_date", "Converted Date", "ConvertedDate", "Became a Customer Date"), NULL},
    {"is_converted", KP_VT_BOOL, 0, H("is_converted", "converted", "Converted", "IsConverted"),
     NULL},
    {"lead_source", KP_VT_TEXT, 0,
     H("lead_source", "source", "Lead Source", "LeadSource", "Original Source"), NULL},
    {"owner", KP_VT_TEXT, 0,
     H("owner", "owner_id", "Lead Owner", "OwnerId", "Contact owner"), "owner_id"},
    {"status", KP_VT_TEXT, 0, H("status", "Lead Status", "Status", "Lifecycle Stage"), NULL},
};

static const kp_field_def spend[] = {
    {"month", KP_VT_MONTH, 1, H("month", "period", "date"), NULL},
    {"channel", KP_VT_TEXT, 1, H("channel", "source", "lead_source", "Campaign Type"), NULL},
    {"amount", KP_VT_MONEY, 1, H("amount", "spend", "cost", "Actual Cost", "ActualCost"),
     "amount_cents"},
};

static const kp_field_def subscriptions[] = {
    {"subscription_id", KP_VT_TEXT, 0, H("subscription_id", "id"), NULL},
    {"account", KP_VT_TEXT, 1, H("account", "account_id", "customer", "Account Name"), NULL},
    {"start_date", KP_VT_DATE, 1, H("start_date", "start", "Start Date"), NULL},
    {"end_date", KP_VT_DATE, 0, H("end_date", "end", "End Date", "cancel_date"), NULL},
    {"mrr", KP_VT_MONEY, 1, H("mrr", "monthly_amount", "MRR"), "mrr_cents"},
};

/* Salesforce's OpportunityHistory (API) and Opportunity History report labels. */
static const kp_field_def stage_history[] = {
    {"opp_id", KP_VT_TEXT, 1,
     H("opp_id", "OpportunityId", "Opportunity ID", "Record ID", "deal_id"), NULL},
    {"stage", KP_VT_TEXT, 1, H("stage", "StageName", "To Stage", "Stage", "Deal Stage"), NULL},
    {"entered_date", KP_VT_DATE, 1,
     H("entered_date", "CreatedDate", "Last Modified", "Edit Date", "Date entered"), NULL},
    {"amount", KP_VT_MONEY, 0, H("amount", "Amount"), "amount_cents"},
};

static const kp_field_def rates[] = {
    {"currency", KP_VT_TEXT, 1, H("currency", "IsoCode", "Currency ISO Code", "currency_code"),
     NULL},
    {"month", KP_VT_MONTH, 1, H("month", "StartDate", "Start Date", "date"), NULL},
    {"rate", KP_VT_NUMBER, 1, H("rate", "ConversionRate", "Conversion Rate"), NULL},
};

/* ---- stage rules -------------------------------------------------------------------- */

/* Salesforce's standard sales process, with its default probabilities and forecast
 * categories (Setup > Opportunity > Stage). */
static const kp_stage_rule sf_stages[] = {
    {"Prospecting", 1, 0.10, 0, 0, "Pipeline"},
    {"Qualification", 2, 0.10, 0, 0, "Pipeline"},
    {"Needs Analysis", 3, 0.20, 0, 0, "Pipeline"},
    {"Value Proposition", 4, 0.50, 0, 0, "Pipeline"},
    {"Id. Decision Makers", 5, 0.60, 0, 0, "Pipeline"},
    {"Perception Analysis", 6, 0.70, 0, 0, "Pipeline"},
    {"Proposal/Price Quote", 7, 0.75, 0, 0, "Pipeline"},
    {"Negotiation/Review", 8, 0.90, 0, 0, "Pipeline"},
    {"Closed Won", 9, 1.00, 1, 1, "Closed"},
    {"Closed Lost", 10, 0.00, 1, 0, "Omitted"},
};

/* HubSpot's default sales pipeline: internal stage ids as the API writes them, then the
 * labels a deal export shows. */
static const kp_stage_rule hs_stages[] = {
    {"appointmentscheduled", 1, 0.20, 0, 0, NULL},
    {"qualifiedtobuy", 2, 0.40, 0, 0, NULL},
    {"presentationscheduled", 3, 0.60, 0, 0, NULL},
    {"decisionmakerboughtin", 4, 0.80, 0, 0, NULL},
    {"contractsent", 5, 0.90, 0, 0, NULL},
    {"closedwon", 6, 1.00, 1, 1, "Closed"},
    {"closedlost", 7, 0.00, 1, 0, "Omitted"},
    {"Appointment Scheduled", 1, 0.20, 0, 0, NULL},
    {"Qualified To Buy", 2, 0.40, 0, 0, NULL},
    {"Presentation Scheduled", 3, 0.60, 0, 0, NULL},
    {"Decision Maker Bought-In", 4, 0.80, 0, 0, NULL},
    {"Contract Sent", 5, 0.90, 0, 0, NULL},
    {"Closed Won", 6, 1.00, 1, 1, "Closed"},
    {"Closed Lost", 7, 0.00, 1, 0, "Omitted"},
};

/* Pipedrive's default pipeline. Stages carry no probability of their own and the deal's
 * Status (open / won / lost) decides whether it is closed and won. */
static const kp_stage_rule pd_stages[] = {
    {"Qualified", 1, -1, 0, 0, NULL},
    {"Contact Made", 2, -1, 0, 0, NULL},
    {"Demo Scheduled", 3, -1, 0, 0, NULL},
    {"Proposal Made", 4, -1, 0, 0, NULL},
    {"Negotiations Started", 5, -1, 0, 0, NULL},
};

/* A generic export names its stages freely: only the closing ones are known. */
static const kp_stage_rule gen_stages[] = {
    {"Closed Won", 90, 1.00, 1, 1, "Closed"},
    {"Won", 90, 1.00, 1, 1, "Closed"},
    {"Closed Lost", 91, 0.00, 1, 0, "Omitted"},
    {"Lost", 91, 0.00, 1, 0, "Omitted"},
};

#define KINDS(opps)                                                                        \
    {opps, reps, quotas, accounts, activities, leads, spend, subscriptions, stage_history,   \
     rates},                                                                                \
        {N(opps), N(reps), N(quotas), N(accounts), N(activities), N(leads), N(spend),         \
         N(subscriptions), N(stage_history), N(rates)}

static const kp_preset presets[] = {
    {"salesforce", KP_PCT_AUTO, KINDS(sf_opps), sf_stages, N(sf_stages), 0},
    {"hubspot", KP_PCT_FRACTION, KINDS(hs_opps), hs_stages, N(hs_stages), 0},
    {"pipedrive", KP_PCT_AUTO, KINDS(pd_opps), pd_stages, N(pd_stages), 1},
    {"generic", KP_PCT_AUTO, KINDS(gen_opps), gen_stages, N(gen_stages), 1},
};

static const char *trim(const char *s, size_t *len)
{
    while (*len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        (*len)--;
    }
    while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
        (*len)--;
    return s;
}

int kp_presets_header_eq(const char *header, size_t len, const char *name)
{
    size_t n = strlen(name);
    header = trim(header, &len);
    name = trim(name, &n);
    if (n != len)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)header[i], b = (unsigned char)name[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a + 32);
        if (b >= 'A' && b <= 'Z')
            b = (unsigned char)(b + 32);
        if (a != b)
            return 0;
    }
    return 1;
}

const kp_preset *kp_presets_find(const char *name)
{
    if (!name || !*name)
        name = "generic";
    for (size_t i = 0; i < N(presets); i++)
        if (kp_presets_header_eq(name, strlen(name), presets[i].name))
            return &presets[i];
    return NULL;
}

const char *kp_presets_names(void)
{
    return "salesforce, hubspot, pipedrive, generic";
}

const kp_field_def *kp_presets_field(const kp_preset *p, kp_source_kind kind,
                                     const char *field)
{
    if (!strcmp(field, "owner_id"))
        field = "owner";
    else if (!strcmp(field, "manager_id"))
        field = "manager";
    for (size_t i = 0; i < p->nfields[kind]; i++)
        if (!strcmp(p->fields[kind][i].field, field))
            return &p->fields[kind][i];
    return NULL;
}

const char *kp_presets_table(kp_source_kind kind)
{
    static const char *const tables[KP_SRC_KIND_COUNT] = {
        [KP_SRC_ACCOUNTS] = "accounts",   [KP_SRC_ACTIVITIES] = "activities",
        [KP_SRC_LEADS] = "leads",         [KP_SRC_SPEND] = "spend",
        [KP_SRC_SUBSCRIPTIONS] = "subscriptions", [KP_SRC_STAGE_HISTORY] = "stage_history",
        [KP_SRC_RATES] = "rates"};
    return kind < KP_SRC_KIND_COUNT ? tables[kind] : NULL;
}

const kp_stage_rule *kp_presets_stage(const kp_preset *p, const char *stage, size_t len)
{
    for (size_t i = 0; i < p->nstages; i++)
        if (kp_presets_header_eq(stage, len, p->stages[i].stage))
            return &p->stages[i];
    return NULL;
}
